namespace NexusArchive.Bench;

/// <summary>
/// <c>--redis-commands</c>: what a pass costs in Redis commands (<c>INFO commandstats</c>, the unit Upstash bills) for the
/// initial load, a no-op pass in a fresh process (the CLI) and in a warm one (the Functions host between ticks), and an
/// incremental pass after 10% of messages were edited through the writer; per archived record, or per entity for the
/// no-op, with the per-command breakdown. The default benchmark run notes the same for its passes.
/// </summary>
internal sealed class RedisCommandsTable(BenchServers servers, Scenarios scenarios, Report report)
{
    public async Task RunAsync(long n)
    {
        await servers.ResetAsync();
        var workload = new RedisWorkload(servers);
        var data = new BenchData(await servers.RedisNowMsAsync() - (long)TimeSpan.FromDays(20).TotalMilliseconds);
        var (seeded, _) = await workload.SeedAsync(data, 0, n);
        report.Note("seed Redis (Lua writer, pipelined)", $"{seeded:N0} records", "messages with their users and sessions");

        var initial = await scenarios.CliPassAsync();
        NotePerRecord(report, "initial load", initial);
        var noOp = await scenarios.CliPassAsync();
        NoteNoOp(report, "right after the initial load", noOp);
        await scenarios.NoOpLatencyAsync("right after the initial load");

        var edits = await workload.EditAsync(data, n, 10);
        var incremental = await scenarios.CliPassAsync();
        NotePerRecord(report, $"incremental pass, {edits:N0} edits (10%)", incremental);
    }

    /// <summary>Commands per archived (upserted) record of a CLI pass, with the breakdown.</summary>
    public static void NotePerRecord(Report report, string pass, PassResult result) =>
        report.Note($"  Redis commands per archived record, {pass} (fresh CLI process)", $"{result.Commands.Per(result.Upserted):0.###}",
            $"{result.Commands.Total:N0} commands for {result.Upserted:N0} records archived ({result.Rows:N0} read, {result.Pages} pages); per record: {result.Commands.Breakdown(result.Upserted)}");

    /// <summary>A CLI pass that must have found nothing to archive: its commands per entity, with the breakdown.</summary>
    public static void NoteNoOp(Report report, string situation, PassResult result)
    {
        if (result.Upserted != 0)
        {
            throw new InvalidOperationException("The no-op pass found work: the benchmark data changed underneath it.");
        }

        report.Note($"NexusArchive no-op pass in a fresh CLI process, {situation}", $"{result.Seconds * 1000:N0} ms",
            $"{result.Commands.Total:N0} Redis commands ({result.Commands.Per(result.Entities):0.#} per entity, {result.Rows:N0} overlap entries re-read); per entity: {result.Commands.Breakdown(result.Entities)}");
    }
}
