using System.Text.Json;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Archiving;

/// <summary>
/// One change stream to work in a pass of its own: shard <see cref="Shard"/> of <see cref="Of"/> of
/// <see cref="Entity"/>; shard 0 of 1 is the entity's unsharded stream. Its text is the fan-out queue's message,
/// <c>{"entity":"message","shard":3,"of":4}</c> (docs/functions.md, "Fan-out over shards").
/// </summary>
public sealed record ShardWork(string Entity, int Shard, int Of)
{
    /// <summary>The queue message: <c>{"entity":"message","shard":3,"of":4}</c>.</summary>
    public string ToMessage() => JsonSerializer.Serialize(new Message(Entity, Shard, Of), ShardWorkJson.Default.Message);

    /// <summary>The pass that works exactly this stream.</summary>
    public ArchiveRunRequest ToRunRequest(string trigger) => new(trigger, [Entity]) { Shard = Shard, ShardCount = Of };

    /// <summary>Reads a queue message; the entity name is checked by the pass (<see cref="ArchiveService.RunAsync"/>).</summary>
    /// <exception cref="FormatException">The message is not <c>{"entity":…,"shard":…,"of":…}</c> with 0 ≤ shard &lt; of ≤ 256; the text says what is wrong.</exception>
    public static ShardWork Parse(string? message)
    {
        const string shape = """ A fan-out message is {"entity":"message","shard":3,"of":4} (shard 0 of 1 = the unsharded stream).""";
        if (string.IsNullOrWhiteSpace(message))
        {
            throw new FormatException("The fan-out message is empty." + shape);
        }

        Message? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(message, ShardWorkJson.Default.Message);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The fan-out message is not the JSON expected ({ex.Message}).{shape}", ex);
        }

        if (parsed is not { Entity: { Length: > 0 } entity, Shard: { } shard, Of: { } of })
        {
            throw new FormatException("The fan-out message lacks \"entity\", \"shard\" or \"of\"." + shape);
        }

        if (of is < 1 or > ChangeShard.MaxCount || shard < 0 || shard >= of)
        {
            throw new FormatException($"The fan-out message names shard {shard} of {of}: the count must be 1 to {ChangeShard.MaxCount} and the shard 0 to count - 1.{shape}");
        }

        return new ShardWork(entity, shard, of);
    }

    /// <summary>The wire shape (unknown properties are ignored, so a newer planner's extra fields do not poison a message).</summary>
    internal sealed record Message(string? Entity, int? Shard, int? Of);
}

/// <summary>
/// What <see cref="ShardFanOut.PlanAsync"/> found. <see cref="Sharded"/> false: no configured entity has more than one
/// change stream, so the timer keeps running the pass itself and <see cref="Work"/> is empty.
/// </summary>
/// <param name="Sharded">Some configured entity has shards (current or draining).</param>
/// <param name="Work">The streams with work, one queue message each, in dependency order.</param>
/// <param name="Streams">How many streams the layout has for the configured entities.</param>
/// <param name="Busy">Streams with work that a live pass holds now (not enqueued: that pass is on it; the next tick looks again).</param>
public sealed record ShardFanOutPlan(bool Sharded, IReadOnlyList<ShardWork> Work, int Streams, int Busy);

/// <summary>
/// Plans a fan-out (docs/functions.md, "Fan-out over shards"): reads the shard layout once and, when a configured entity
/// is sharded, decides for every change stream whether a pass would find work, with one PostgreSQL query (every
/// checkpoint row with its quiet mark) and one pipelined Redis round trip (four commands a stream). A stream has work
/// when its late set is not empty, when entries are due after its checkpoint (ZCOUNT over (checkpoint, Redis-now −
/// settle window]), or, with <c>Archive:QuietPasses</c>, when its row has no quiet mark although the stream was written,
/// or the mark no longer holds (<see cref="QuietMark.Holds"/>: writes since the last successful pass, which may include
/// far-future entries to dead-letter). A stream the writers have left (the unsharded stream of a sharded entity, the old
/// layout during a reshard) has work while its index holds entries: its pass moves them to the current shards. Without
/// quiet passes no row ever has a mark; then only the late set, the due entries and the draining count.
/// </summary>
public sealed class ShardFanOut
{
    private readonly EntityCatalog _entities;
    private readonly IChangeSource _source;
    private readonly CheckpointStore _checkpoints;
    private readonly PostgresCalls _postgres;
    private readonly IOptions<ArchiveOptions> _options;

    internal ShardFanOut(EntityCatalog entities, IChangeSource source, CheckpointStore checkpoints, PostgresCalls postgres, IOptions<ArchiveOptions> options)
    {
        _entities = entities;
        _source = source;
        _checkpoints = checkpoints;
        _postgres = postgres;
        _options = options;
    }

    /// <summary>The plan for now; the configured entities (<c>Archive:Entities</c>, empty = all).</summary>
    public async Task<ShardFanOutPlan> PlanAsync(CancellationToken cancellationToken)
    {
        var settings = _options.Value;
        var layout = await _source.GetShardLayoutAsync(cancellationToken);
        var streams = _entities.Resolve(settings.Entities).SelectMany(layout.StreamsOf).ToList();
        if (!streams.Any(s => s.Shard is not null))
        {
            return new ShardFanOutPlan(Sharded: false, [], streams.Count, Busy: 0);
        }

        var redisNow = await _source.GetServerTimeAsync(cancellationToken);
        var upTo = (redisNow - settings.SettleWindow).ToUnixTimeMilliseconds();
        var rows = await _postgres.RunAsync(ct => _checkpoints.ReadAllAsync(ct), cancellationToken);
        var states = streams.Select(s => rows.GetValueOrDefault(s.FeedName)).ToList();
        var backlogs = await _source.GetBacklogsAsync(
            [.. streams.Select((s, i) => (s, states[i]?.Checkpoint is { } c && double.IsFinite(c.Score) ? c.Score : double.NegativeInfinity))],
            upTo,
            cancellationToken);

        var work = new List<ShardWork>();
        var busy = 0;
        for (var i = 0; i < streams.Count; i++)
        {
            if (!HasWork(states[i], backlogs[i], settings.QuietPasses, layout.IsDraining(streams[i])))
            {
                continue;
            }

            if (states[i]?.Leased == true)
            {
                busy++;
                continue;
            }

            var stream = streams[i];
            work.Add(new ShardWork(stream.Name, stream.Shard?.Index ?? 0, stream.Shard?.Count ?? 1));
        }

        return new ShardFanOutPlan(Sharded: true, work, streams.Count, busy);
    }

    /// <summary>Whether a pass over the stream would find something to do (see the class summary).</summary>
    internal static bool HasWork(CheckpointState? state, StreamBacklog backlog, bool quietPasses, bool draining)
    {
        if (backlog.Late > 0 || backlog.Due > 0)
        {
            return true;
        }

        // A stream the writers have left (the unsharded stream of a sharded entity, a layout being resharded) still
        // holding entries: its pass moves them to the current shards, even when nothing is left to archive.
        if (draining && backlog.Writes is not { IndexSize: 0 })
        {
            return true;
        }

        if (!quietPasses)
        {
            return false;
        }

        // Never written (no counter, empty index): nothing to do, mark or not. Otherwise only a mark that still holds
        // proves that nothing changed since the last successful pass.
        return backlog.Writes != new WriteCount(0, 0)
            && state?.Quiet?.Holds(backlog.Writes, state.Checkpoint ?? ChangeCursor.Start) != true;
    }
}

/// <summary>Source-generated JSON for <see cref="ShardWork.Message"/> (camelCase, as the other queue's events).</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ShardWork.Message))]
internal sealed partial class ShardWorkJson : System.Text.Json.Serialization.JsonSerializerContext;
