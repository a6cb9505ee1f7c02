using System.Text.Json.Serialization;

namespace NexusArchive.Core.Verification;

/// <summary>The kinds of verification in <c>{bookkeeping}.verifications.kind</c>.</summary>
internal static class VerificationKinds
{
    /// <summary>Every record of the scope, both sides (<see cref="VerifyService"/>).</summary>
    public const string Full = "full";

    /// <summary>One bounded run of the incremental verify (<see cref="IncrementalVerifyService"/>).</summary>
    public const string Incremental = "incremental";
}

/// <summary>How a verification ended.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<VerificationStatus>))]
public enum VerificationStatus
{
    /// <summary>Still running (or the process died before it could record the outcome).</summary>
    Running,

    /// <summary>Every record it set out to check was checked; gaps and differences are findings, not failures.</summary>
    Succeeded,

    /// <summary>An error stopped it; entities finished before the error keep their recorded results and resume points.</summary>
    Failed,
}

/// <summary>A recorded verification, as <c>status</c> shows the newest finished one.</summary>
/// <param name="VerificationId">The row's id in <c>{bookkeeping}.verifications</c>.</param>
/// <param name="Kind"><c>full</c> or <c>incremental</c>.</param>
/// <param name="Trigger">Who started it: <c>timer</c>, <c>cli</c>, <c>http</c>, <c>test</c>…</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="FinishedAt">When it ended.</param>
/// <param name="Status">How it ended.</param>
/// <param name="Error">The redacted error of a failed verification.</param>
/// <param name="RecordsChecked">Records classified (each check counts once).</param>
/// <param name="Gaps">Records due but missing from the archive.</param>
/// <param name="Differences">Records archived with other content than Redis holds.</param>
/// <param name="ExampleIds">A few <c>entity:id</c> of records with a gap or a difference.</param>
public sealed record VerificationSummary(
    long VerificationId,
    string Kind,
    string Trigger,
    DateTimeOffset StartedAt,
    DateTimeOffset? FinishedAt,
    VerificationStatus Status,
    string? Error,
    long RecordsChecked,
    long Gaps,
    long Differences,
    IReadOnlyList<string> ExampleIds);
