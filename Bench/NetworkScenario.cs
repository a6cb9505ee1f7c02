using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace NexusArchive.Bench;

/// <summary>
/// The production topology's network on one machine. <c>--latency 0,5,20</c>: the initial load (the real CLI in a fresh
/// process, fresh archive database each time, the same seeded Redis) with both its Redis and its PostgreSQL connections
/// through <see cref="DelayProxy"/>s that add each value as round-trip time (half per direction); rows/s against the
/// first value's run, time per page, and Redis commands per record; then the same at the first and last latency with
/// other pass settings (<c>--latency-settings PipelineDepth=8,PageSize=10000</c>; <c>none</c> skips them).
/// <c>--pooler</c>: the same pass direct and through PgBouncer in transaction mode (<see cref="PgBouncer"/>).
/// </summary>
internal sealed class NetworkScenario(BenchServers servers, Scenarios scenarios, Report report)
{
    private const int PoolerRounds = 2;

    /// <summary>False when a pass failed (its error is in the report): the benchmark then exits 1.</summary>
    public bool Succeeded { get; private set; } = true;

    public async Task RunAsync(long n, double[] latencies, string[] variants, bool pooler)
    {
        await servers.ResetAsync();
        var data = new BenchData(await servers.RedisNowMsAsync() - (long)TimeSpan.FromDays(20).TotalMilliseconds);
        var (seeded, seedSeconds) = await new RedisWorkload(servers).SeedAsync(data, 0, n);
        report.Note("seed Redis (Lua writer, pipelined)", $"{seeded / 1000.0:N1}k records in {seedSeconds:N1} s", $"{seeded / seedSeconds:N0} records/s");
        if (latencies.Length > 0)
        {
            await LatencyAsync(latencies, variants);
        }

        if (pooler)
        {
            await PoolerAsync();
        }
    }

    private async Task LatencyAsync(double[] latencies, string[] variants)
    {
        Console.WriteLine("--latency: each value is round-trip time added to every Redis and PostgreSQL connection, half on each direction (a chunk waits value/2 ms each way)");
        var runs = new List<(double Rtt, string Variant, PassResult Pass)>();
        foreach (var rtt in latencies)
        {
            await using var redisProxy = new DelayProxy(servers.RedisEndpoint().Host, servers.RedisEndpoint().Port, TimeSpan.FromMilliseconds(rtt / 2));
            var admin = servers.PostgresAdmin;
            await using var postgresProxy = new DelayProxy(admin.Host!, admin.Port, TimeSpan.FromMilliseconds(rtt / 2));
            var measured = await RoundTripMsAsync(redisProxy.Port);
            var through = new Dictionary<string, string>
            {
                ["ConnectionStrings:Redis"] = servers.RedisVia(redisProxy.Port),
                ["ConnectionStrings:Postgres"] = servers.PostgresVia(postgresProxy.Port),
            };
            var settingsToRun = new List<string> { "default settings" };
            if (rtt == latencies[0] || rtt == latencies[^1])
            {
                settingsToRun.AddRange(variants);
            }

            foreach (var variant in settingsToRun)
            {
                var settings = new Dictionary<string, string>(through);
                foreach (var (key, value) in ParseVariant(variant))
                {
                    settings["Archive:" + key] = value;
                }

                await servers.ResetArchiveAsync();
                var (redisBefore, postgresBefore) = (redisProxy.Exchanges, postgresProxy.Exchanges);
                PassResult pass;
                try
                {
                    pass = await scenarios.CliPassAsync(settings);
                }
                catch (InvalidOperationException ex)
                {
                    Fail($"initial load, +{rtt:0.#} ms round trip, {variant}", ex);
                    continue;
                }

                var redisExchanges = (redisProxy.Exchanges - redisBefore) / (double)Math.Max(1, pass.Pages);
                var postgresExchanges = (postgresProxy.Exchanges - postgresBefore) / (double)Math.Max(1, pass.Pages);
                runs.Add((rtt, variant, pass));
                var (referenceRtt, _, reference) = runs.First(r => r.Variant == variant);
                var msPerPage = pass.Seconds * 1000 / Math.Max(1, pass.Pages);
                var referenceMsPerPage = reference.Seconds * 1000 / Math.Max(1, reference.Pages);
                var roundTrips = rtt > referenceRtt
                    ? $"; +{msPerPage - referenceMsPerPage:N1} ms per page over +{referenceRtt:0.#} ms ≈ {(msPerPage - referenceMsPerPage) / (rtt - referenceRtt):0.0} sequential round trips per page"
                    : string.Empty;
                var sameLatency = runs.FirstOrDefault(r => r.Rtt == rtt && r.Variant == "default settings").Pass;
                var againstDefault = variant == "default settings" || sameLatency is null
                    ? string.Empty
                    : $"; {pass.Rows / pass.Seconds / (sameLatency.Rows / sameLatency.Seconds):0.00}× default settings at the same latency";
                report.Note($"initial load, +{rtt:0.#} ms round trip ({variant})", $"{pass.Rows / pass.Seconds:N0} rows/s",
                    $"{pass.Rows / pass.Seconds / (reference.Rows / reference.Seconds):0.00}× the +{referenceRtt:0.#} ms run{againstDefault}; {pass.Rows:N0} rows, {pass.Pages} pages in {pass.Seconds:N1} s, {msPerPage:N1} ms per page{roundTrips}; measured Redis PING through the proxy {measured:N1} ms");
                report.Note($"  round trips per page (+{rtt:0.#} ms, {variant})", $"Redis {redisExchanges:0.0}, PostgreSQL {postgresExchanges:0.0}",
                    "request–reply exchanges the proxies saw over all connections, process start-up and the pass's fixed work included, divided by its pages; pipelined or concurrent ones may overlap in time");
                report.Note($"  Redis commands per archived record (+{rtt:0.#} ms, {variant})", $"{pass.Commands.Per(pass.Upserted):0.###}",
                    $"{pass.Commands.Total:N0} commands for {pass.Upserted:N0} records: {pass.Commands.Breakdown(pass.Upserted)}");
            }
        }
    }

    private async Task PoolerAsync()
    {
        using var bouncer = PgBouncer.Start(servers.PostgresAdmin, poolSize: 10);
        var pooled = new Dictionary<string, string>
        {
            // As the README asks for a transaction pooler: no DISCARD ALL on returning a connection, no auto-prepare.
            ["ConnectionStrings:Postgres"] = servers.PostgresVia(bouncer.Port, b => { b.NoResetOnClose = true; b.MaxAutoPrepare = 0; }),
        };
        var direct = new List<double>();
        var throughPooler = new List<double>();
        long rows = 0;
        for (var round = 0; round < PoolerRounds; round++)
        {
            await servers.ResetArchiveAsync();
            var pass = await scenarios.CliPassAsync();
            direct.Add(pass.Rows / pass.Seconds);
            rows = pass.Rows;
            await servers.ResetArchiveAsync();
            try
            {
                var viaPooler = await scenarios.CliPassAsync(pooled);
                if (viaPooler.Rows != pass.Rows)
                {
                    throw new InvalidOperationException($"through PgBouncer the pass read {viaPooler.Rows:N0} rows, direct {pass.Rows:N0}");
                }

                throughPooler.Add(viaPooler.Rows / viaPooler.Seconds);
            }
            catch (InvalidOperationException ex)
            {
                Fail("initial load through PgBouncer (transaction mode)", ex);
                Console.WriteLine("pgbouncer's log:\n" + bouncer.Log());
                return;
            }
        }

        report.Note("initial load, PostgreSQL direct", $"{direct.Average():N0} rows/s", $"mean of {PoolerRounds} fresh CLI passes ({string.Join(", ", direct.Select(r => r.ToString("N0", CultureInfo.InvariantCulture)))}), {rows:N0} rows each");
        report.Note("initial load through PgBouncer, transaction mode", $"{throughPooler.Average():N0} rows/s",
            $"{throughPooler.Average() / direct.Average():0.00}× direct (runs {string.Join(", ", throughPooler.Select(r => r.ToString("N0", CultureInfo.InvariantCulture)))}, interleaved with direct); {PgBouncer.Version()}, default_pool_size {bouncer.PoolSize}, No Reset On Close=true, Max Auto Prepare=0");
    }

    private void Fail(string what, InvalidOperationException ex)
    {
        Succeeded = false;
        var firstLine = ex.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault(l => l.Contains("xception", StringComparison.Ordinal) || l.Contains("rror", StringComparison.Ordinal)) ?? ex.Message;
        report.Note(what, "FAILED", firstLine.Replace('|', '/'));
        Console.WriteLine($"{what} failed:\n{ex.Message}");
    }

    /// <summary><c>PipelineDepth=8+PageSize=10000</c> → its settings.</summary>
    private static IEnumerable<(string Key, string Value)> ParseVariant(string variant) =>
        variant == "default settings" ? [] : variant.Split('+').Select(p => p.Split('=', 2)).Select(p => (p[0].Trim(), p[1].Trim()));

    /// <summary>The median time of 21 inline <c>PING</c>s through a proxy on a raw socket (the reply is <c>+PONG</c>, or <c>-NOAUTH</c>: a round trip either way).</summary>
    private static async Task<double> RoundTripMsAsync(int port)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync("127.0.0.1", port);
        var ping = "PING\r\n"u8.ToArray();
        var reply = new byte[256];
        var samples = new List<double>();
        for (var i = 0; i < 21; i++)
        {
            var clock = Stopwatch.StartNew();
            await socket.SendAsync(ping, SocketFlags.None);
            var received = 0;
            do
            {
                received += await socket.ReceiveAsync(reply.AsMemory(received), SocketFlags.None);
            }
            while (received < 2 || reply[received - 1] != (byte)'\n');

            samples.Add(clock.Elapsed.TotalMilliseconds);
        }

        samples.Sort();
        return Report.Percentile(samples, 0.5);
    }
}
