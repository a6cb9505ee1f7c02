using System.Diagnostics;
using StackExchange.Redis;

namespace NexusArchive.Bench;

/// <summary>
/// <c>--shards 4</c>: scale-out on one machine (docs/scaling.md). The same N messages are archived three ways, each into
/// a fresh archive: unsharded by one CLI process (the baseline); sharded N ways by one process (the streams one after
/// another); sharded N ways by N CLI processes at once (<c>archive --entity message --shard i</c>), which is what N
/// Functions instances fed by the shard queue do. Throughput = rows / wall time from the first start to the last exit.
/// With <c>--latency 0,20</c> each comparison runs at each added round-trip time (both links through delay proxies):
/// on loopback the cores are the limit, across a link the round trips are, and those parallel processes overlap.
/// </summary>
internal sealed class ShardScenario(BenchServers servers, Scenarios scenarios, Report report)
{
    /// <param name="n">Messages to seed.</param>
    /// <param name="shards">The shard count (and processes) of the sharded runs.</param>
    /// <param name="latencies">Round-trip times (ms) to add on both links through <see cref="DelayProxy"/>s; 0 = loopback.</param>
    public async Task RunAsync(long n, int shards, double[] latencies)
    {
        var unsharded = await SeedAsync(n, shards: 1);
        var baselines = new Dictionary<double, double>();
        foreach (var rtt in latencies)
        {
            await using var link = Through(rtt);
            var baseline = await ProcessesAsync(["archive", "--entity", "message", "--json"], processes: 1, link.Settings);
            baselines[rtt] = baseline.RowsPerSecond;
            report.Note($"initial load{Over(rtt)}, 1 shard × 1 process (baseline)", $"{baseline.RowsPerSecond:N0} rows/s", $"{baseline.Rows:N0} rows in {baseline.Seconds:N1} s; {baseline.Cpu}");
        }

        var sharded = await SeedAsync(n, shards);
        foreach (var rtt in latencies)
        {
            await using var link = Through(rtt);
            var oneProcess = await ProcessesAsync(["archive", "--entity", "message", "--json"], processes: 1, link.Settings);
            report.Note($"initial load{Over(rtt)}, {shards} shards × 1 process", $"{oneProcess.RowsPerSecond:N0} rows/s",
                $"{oneProcess.RowsPerSecond / baselines[rtt]:0.00}× baseline; {oneProcess.Rows:N0} rows in {oneProcess.Seconds:N1} s; {oneProcess.Cpu}");
            var many = await ProcessesAsync(["archive", "--entity", "message", "--json", "--shard", "{i}"], processes: shards, link.Settings);
            report.Note($"initial load{Over(rtt)}, {shards} shards × {shards} processes", $"{many.RowsPerSecond:N0} rows/s",
                $"{many.RowsPerSecond / baselines[rtt]:0.00}× baseline; {many.Rows:N0} rows in {many.Seconds:N1} s; {many.Cpu}");
        }

        report.Note("  seeded", $"{unsharded:N0} / {sharded:N0} records", "unsharded / sharded Redis; the same BenchData rows");
    }

    private static string Over(double rtt) => rtt > 0 ? $" +{rtt:0.#} ms round trip" : string.Empty;

    /// <summary>Both connections through delay proxies adding <paramref name="rtt"/> ms round trip (none for 0).</summary>
    private Link Through(double rtt)
    {
        if (rtt <= 0)
        {
            return new Link(null, null, null);
        }

        var redis = new DelayProxy(servers.RedisEndpoint().Host, servers.RedisEndpoint().Port, TimeSpan.FromMilliseconds(rtt / 2));
        var admin = servers.PostgresAdmin;
        var postgres = new DelayProxy(admin.Host!, admin.Port, TimeSpan.FromMilliseconds(rtt / 2));
        return new Link(redis, postgres, new Dictionary<string, string>
        {
            ["ConnectionStrings:Redis"] = servers.RedisVia(redis.Port),
            ["ConnectionStrings:Postgres"] = servers.PostgresVia(postgres.Port),
        });
    }

    private sealed record Link(DelayProxy? Redis, DelayProxy? Postgres, Dictionary<string, string>? Settings) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            if (Redis is not null)
            {
                await Redis.DisposeAsync();
            }

            if (Postgres is not null)
            {
                await Postgres.DisposeAsync();
            }
        }
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
    private async Task<(long Rows, double Seconds, double RowsPerSecond, string Cpu)> ProcessesAsync(string[] args, int processes, IReadOnlyDictionary<string, string>? settings)
    {
        await servers.ResetArchiveAsync();
        var cpuBefore = CpuSample.Take();
        var wall = Stopwatch.StartNew();
        var runs = await Task.WhenAll(Enumerable.Range(0, processes).Select(i =>
            scenarios.RunCliAsync([.. args.Select(a => a.Replace("{i}", i.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal))], settings)));
        var seconds = wall.Elapsed.TotalSeconds;
        var cpu = CpuSample.Take() - cpuBefore;
        var rows = runs.Sum(r => r.Json.GetProperty("totalUpserted").GetInt64());
        return (rows, seconds, rows / seconds, cpu.Describe(seconds, Math.Max(1, rows)));
    }
}
