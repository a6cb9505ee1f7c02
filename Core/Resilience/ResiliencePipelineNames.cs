namespace NexusArchive.Core.Resilience;

/// <summary>Keys of the named Polly pipelines in the <c>ResiliencePipelineProvider&lt;string&gt;</c>.</summary>
internal static class ResiliencePipelineNames
{
    /// <summary>Every Redis call of a pass: page reads, fetches, server time, checkpoint mirror.</summary>
    public const string Redis = "nexus-redis";

    /// <summary>Every PostgreSQL call of a pass: lease, whole page transaction, run history.</summary>
    public const string Postgres = "nexus-postgres";
}
