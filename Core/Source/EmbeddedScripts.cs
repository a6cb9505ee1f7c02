
namespace NexusArchive.Core.Source;

/// <summary>The Lua scripts shipped in <c>Core/Source/Scripts</c> (also usable from any other Redis client).</summary>
internal static class EmbeddedScripts
{
    private static readonly Lazy<string> s_writeRecord = new(() => Load("write-record.lua"));
    private static readonly Lazy<string> s_pageIndex = new(() => Load("page-index.lua"));
    private static readonly Lazy<string> s_lateHorizon = new(() => Load("late-horizon.lua"));
    private static readonly Lazy<string> s_lateRemove = new(() => Load("late-remove.lua"));
    private static readonly Lazy<string> s_offloadSession = new(() => Load("offload-session.lua"));
    private static readonly Lazy<string> s_shardDrain = new(() => Load("shard-drain.lua"));

    /// <summary>The record writer: updates a record hash and its change index atomically.</summary>
    public static string WriteRecord => s_writeRecord.Value;

    /// <summary>The change-index pager: one page after a (score, member) cursor.</summary>
    public static string PageIndex => s_pageIndex.Value;

    /// <summary>Raises an entity's late horizon (never lowers it).</summary>
    public static string LateHorizon => s_lateHorizon.Value;

    /// <summary>Removes drained late entries that still carry the score that was archived.</summary>
    public static string LateRemove => s_lateRemove.Value;

    /// <summary>Removes one offloaded session from Redis, whole or not at all, and sets its offload marker.</summary>
    public static string OffloadSession => s_offloadSession.Value;

    /// <summary>Moves archived entries of a drained change stream to the streams their ids belong to now.</summary>
    public static string ShardDrain => s_shardDrain.Value;

    private static string Load(string name)
    {
        using var stream = typeof(EmbeddedScripts).Assembly.GetManifestResourceStream("NexusArchive.Scripts." + name)
            ?? throw new InvalidOperationException($"Embedded script {name} is missing from {typeof(EmbeddedScripts).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
