using System.Diagnostics;
using StackExchange.Redis;

namespace NexusArchive.Bench;

/// <summary>
/// <c>--shards 4</c>: scale-out on one machine (docs/scaling.md). The same N messages are archived three ways, each into
/// a fresh archive: unsharded by one CLI process (the baseline); sharded N ways by one process (the streams one after
/// another); sharded N ways by N CLI processes at once (<c>archive --entity message --shard i</c>), which is what N
/// Functions instances fed by the shard queue do. Throughput = rows / wall time from the first start to the last exit.
/// </summary>
internal sealed class ShardScenario(BenchServers servers, Scenarios scenarios, Report report)
{
    public async Task RunAsync(long n, int shards)
    {
        var unsharded = await SeedAsync(n, shards: 1);
        var baseline = await ProcessesAsync(["archive", "--entity", "message", "--json"], processes: 1);
        report.Note($"initial load, 1 shard × 1 process (baseline)", $"{baseline.RowsPerSecond:N0} rows/s", $"{baseline.Rows:N0} rows in {baseline.Seconds:N1} s; {baseline.Cpu}");

        var sharded = await SeedAsync(n, shards);
        var oneProcess = await ProcessesAsync(["archive", "--entity", "message", "--json"], processes: 1);
        report.Note($"initial load, {shards} shards × 1 process", $"{oneProcess.RowsPerSecond:N0} rows/s",
            $"{oneProcess.RowsPerSecond / baseline.RowsPerSecond:0.00}× baseline; {oneProcess.Rows:N0} rows in {oneProcess.Seconds:N1} s; {oneProcess.Cpu}");
        var many = await ProcessesAsync(["archive", "--entity", "message", "--json", "--shard", "{i}"], processes: shards);
        report.Note($"initial load, {shards} shards × {shards} processes", $"{many.RowsPerSecond:N0} rows/s",
            $"{many.RowsPerSecond / baseline.RowsPerSecond:0.00}× baseline; {many.Rows:N0} rows in {many.Seconds:N1} s; {many.Cpu}");
        report.Note("  seeded", $"{unsharded:N0} / {sharded:N0} records", "unsharded / sharded Redis; the same BenchData rows");
    }

    private async Task<long> SeedAsync(long n, int shards)
    {
        await servers.ResetAsync();
        if (shards > 1)
        {
            await using var mux = await ConnectionMultiplexer.ConnectAsync(servers.Settings()["ConnectionStrings:Redis"]!);
            await mux.GetDatabase().HashSetAsync($"{servers.Settings()["Archive:KeyPrefix"]}:archive:shards", "message", shards);
        }

        var data = new BenchData(await servers.RedisNowMsAsync() - (long)TimeSpan.FromDays(20).TotalMilliseconds);
        var (seeded, _) = await new RedisWorkload(servers).SeedAsync(data, 0, n);
        return seeded;
    }

    /// <summary>Starts <paramref name="processes"/> CLI passes at once ({i} in an argument = the process's number), waits for all.</summary>
    private async Task<(long Rows, double Seconds, double RowsPerSecond, string Cpu)> ProcessesAsync(string[] args, int processes)
    {
        await servers.ResetArchiveAsync();
        var cpuBefore = CpuSample.Take();
        var wall = Stopwatch.StartNew();
        var runs = await Task.WhenAll(Enumerable.Range(0, processes).Select(i =>
            scenarios.RunCliAsync([.. args.Select(a => a.Replace("{i}", i.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal))])));
        var seconds = wall.Elapsed.TotalSeconds;
        var cpu = CpuSample.Take() - cpuBefore;
        var rows = runs.Sum(r => r.Json.GetProperty("totalUpserted").GetInt64());
        return (rows, seconds, rows / seconds, cpu.Describe(seconds, Math.Max(1, rows)));
    }
}
