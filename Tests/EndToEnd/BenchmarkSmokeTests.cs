using System.Diagnostics;
using NexusArchive.Tests.Infrastructure;
using Xunit.Abstractions;

namespace NexusArchive.Tests.EndToEnd;

/// <summary>Runs the benchmark with a tiny N so it never rots. It asserts that it runs and reports, not speed.</summary>
public sealed class BenchmarkSmokeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Benchmark_TinyN_RunsEveryMeasurementAndPrintsTheTable()
    {
        var report = await RunBenchAsync("--messages", "400", "--memory-scale", "2", "--page-size", "100", "--redis-database", "9", "--database", $"bench_smoke_{Environment.ProcessId}");
        Assert.Contains("| baseline: direct binary COPY", report);
        Assert.Contains("| NexusArchive initial load (pass) |", report);
        Assert.Contains("| NexusArchive incremental pass (10% edited) |", report);
        Assert.Contains("| NexusArchive incremental pass in a warm process (10% edited again) |", report);
        Assert.Contains("CPU ceiling of the initial load |", report);
        Assert.Contains("| NexusArchive no-op pass", report);
        Assert.Contains("| NexusArchive no-op pass in a fresh CLI process, nothing changed since the initial load |", report);
        Assert.Matches(@"Redis commands per archived record, initial load \(fresh CLI process\) \| [\d.]+ \|", report);
        Assert.Matches(@"Redis commands per no-op pass \(warm process\) \| [\d.]+ \([\d.]+ per entity\)", report);
        Assert.Contains("| peak working set at 2×N |", report);
        Assert.Matches(@"initial load \(pass\) \| [\d,]+ rows/s \| 4\d\d rows", report); // 400 messages + their users and sessions
    }

    [Fact]
    public async Task Benchmark_SearchCost_TinyN_MeasuresEveryDesignAndQuery()
    {
        var report = await RunBenchAsync("--search-cost", "--search-designs", "stored,expression,none", "--messages", "400", "--page-size", "100", "--redis-database", "10", "--database", $"bench_search_smoke_{Environment.ProcessId}");
        foreach (var design in new[] { "none", "expression", "stored" })
        {
            Assert.Matches($@"\| search design '{design}': initial load / incremental pass \(median of 1\) \| [\d,]+ / [\d,]+ rows/s \|", report);
        }

        Assert.Contains("| opt-in search index built after the initial load", report);
        foreach (var design in new[] { "none", "stored" })
        {
            Assert.Matches($@"\| design '{design}': search_messages as u-0000000 \(RLS\): the most common word \| [\d.,]+ ms \| median of 5, \d+ rows returned \|", report);
        }

        Assert.Matches(@"\| no index: search_messages as u-heavy-05k \([\d,]+ messages, RLS\): the most common word \| [\d.,]+ ms \|", report);
        Assert.Contains("| opt-in index: search_messages bypassing RLS (all users): a word in ~0.1% of messages |", report);

        Assert.Contains("| session_summary bypassing RLS: latest 20 sessions of all |", report);
        Assert.Contains("Query Text:", report); // auto_explain's plans
        Assert.Contains("websearch_to_tsquery", report); // ... including the search function's own statement
    }

    [Fact]
    public async Task Benchmark_LatencyAndPooler_TinyN_RunThroughTheProxiesAndPgBouncer()
    {
        // PgBouncer comes with the test prerequisites (scripts/install-prereqs.sh), as for TransportTests.
        var report = await RunBenchAsync("--latency", "0,4", "--latency-settings", "PipelineDepth=4", "--pooler", "--messages", "400", "--page-size", "100", "--redis-database", "11", "--database", $"bench_net_smoke_{Environment.ProcessId}");
        Assert.Matches(@"\| initial load, \+0 ms round trip \(default settings\) \| [\d,]+ rows/s \| 1\.00× the \+0 ms run; 4\d\d rows", report);
        Assert.Matches(@"\| initial load, \+4 ms round trip \(default settings\) \| [\d,]+ rows/s \| [\d.]+× the \+0 ms run; .*sequential round trips per page; measured Redis PING through the proxy [\d.]+ ms \|", report);
        Assert.Matches(@"\| initial load, \+4 ms round trip \(PipelineDepth=4\) \| [\d,]+ rows/s \| .*× default settings at the same latency", report);
        Assert.Matches(@"Redis commands per archived record \(\+4 ms, default settings\) \| [\d.]+ \| .*hgetall", report);
        Assert.Matches(@"\| initial load through PgBouncer, transaction mode \| [\d,]+ rows/s \| [\d.]+× direct", report);
    }

    [Fact]
    public async Task Benchmark_RedisCommands_TinyN_CountsEveryPassKind()
    {
        var report = await RunBenchAsync("--redis-commands", "--messages", "400", "--page-size", "100", "--redis-database", "12", "--database", $"bench_cmd_smoke_{Environment.ProcessId}");
        Assert.Matches(@"\| +Redis commands per archived record, initial load \(fresh CLI process\) \| [\d.]+ \| .*hgetall", report);
        Assert.Matches(@"\| NexusArchive no-op pass in a fresh CLI process, right after the initial load \| [\d,]+ ms \| [\d,]+ Redis commands \([\d.]+ per entity", report);
        Assert.Matches(@"Redis commands per no-op pass \(warm process\) \| [\d.]+ \([\d.]+ per entity\)", report);
        Assert.Matches(@"Redis commands per archived record, incremental pass, 40 edits \(10%\) \(fresh CLI process\) \| [\d.]+ \|", report);
    }

    /// <summary>Runs the benchmark binary on the test servers and returns what it printed; fails with its stderr unless it exits 0.</summary>
    private async Task<string> RunBenchAsync(params string[] args)
    {
        var servers = TestServers.Instance;
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "nexus-archive-bench.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["ConnectionStrings__Redis"] = servers.RedisConnectionString;
        info.Environment["ConnectionStrings__Postgres"] = servers.PostgresAdminConnectionString;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        output.WriteLine(await stdout);

        Assert.True(process.ExitCode == 0, await stderr);
        return await stdout;
    }
}
