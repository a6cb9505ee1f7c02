using System.Diagnostics;
using System.Globalization;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Tests.Infrastructure;
using StackExchange.Redis;

namespace NexusArchive.Tests.Faults;

/// <summary>Shared tools of the fault-injection suite: seeding, CLI child processes, fault injection, the summary line.</summary>
internal static class FaultKit
{
    /// <summary>Settings every fault test starts from: short leases, fast retries, a breaker that tolerates injected faults.</summary>
    public static void FaultSettings(Dictionary<string, string?> s, int pageSize)
    {
        s["Archive:PageSize"] = pageSize.ToString(CultureInfo.InvariantCulture);
        s["Archive:LeaseTimeout"] = "00:00:02";
        s["Archive:Resilience:MaxRetryAttempts"] = "8";
        s["Archive:Resilience:BaseDelay"] = "00:00:00.05";
        s["Archive:Resilience:MaxDelay"] = "00:00:01";
        s["Archive:Resilience:BreakerMinimumThroughput"] = "50";
        s["Archive:Resilience:BreakerFailureRatio"] = "0.9";
    }

    /// <summary>Seeds users, sessions and messages (valid, spread over the last minutes) with pipelined Lua writes.</summary>
    public static async Task<int> SeedAsync(ArchiveHarness harness, int messages, string tag = "")
    {
        var now = await harness.RedisNowMsAsync();
        var start = now - 300_000;
        var users = Math.Max(1, messages / 100);
        var sessions = Math.Max(1, messages / 20);
        await harness.WritePipelinedAsync(batch =>
        {
            var pending = new List<Task>();
            for (var u = 0; u < users; u++)
            {
                pending.Add(harness.Writer.WriteAsync(batch, EntityCatalog.User, $"u{tag}-{u}", Fields(("email", $"u{u}@example.com"), ("displayName", $"User {u}"), ("createdAt", Ms(start))), start + u));
            }

            for (var s = 0; s < sessions; s++)
            {
                pending.Add(harness.Writer.WriteAsync(batch, EntityCatalog.Session, $"s{tag}-{s}", Fields(("userId", $"u{tag}-{s % users}"), ("title", $"Session {s}"), ("createdAt", Ms(start))), start + s));
            }

            for (var m = 0; m < messages; m++)
            {
                var at = start + (m * 250_000L / messages);
                pending.Add(harness.Writer.WriteAsync(batch, EntityCatalog.Message, $"m{tag}-{m:D6}", Fields(
                    ("sessionId", $"s{tag}-{m % sessions}"), ("userId", $"u{tag}-{m % users}"), ("role", m % 2 == 0 ? "user" : "assistant"),
                    ("content", $"message {m} ✓ — {new string('x', m % 50)}"), ("tokenCount", (m % 700).ToString(CultureInfo.InvariantCulture)),
                    ("metadata", $$"""{"n":{{m}},"tags":["a","b"]}"""), ("createdAt", Ms(at))), at));
            }

            return pending;
        });
        return users + sessions + messages;
    }

    public static KeyValuePair<string, RedisValue>[] Fields(params (string Name, string Value)[] fields) =>
        [.. fields.Select(f => new KeyValuePair<string, RedisValue>(f.Name, f.Value))];

    public static string Ms(long ms) => ms.ToString(CultureInfo.InvariantCulture);

    /// <summary>Starts <c>dotnet nexus-archive.dll archive</c> (the CLI built into the test output) with the harness' settings.</summary>
    public static Process StartCli(ArchiveHarness harness, params string[] args)
    {
        var settings = new Dictionary<string, string?>(harness.Settings) { ["Logging:LogLevel:Default"] = "Warning" };
        var process = CliRunner.Start(settings, args);

        // Nobody reads a killed child's output: drain it so a full pipe can never stall the process.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Runs in-process passes until one succeeds (waiting out leases a killed pass left behind).</summary>
    public static async Task<ArchiveRunResult> FinishAsync(ArchiveHarness harness, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var run = await harness.RunAsync();
            if (run.Status == RunStatus.Succeeded || clock.Elapsed > timeout)
            {
                return run;
            }

            await Task.Delay(250);
        }
    }

    /// <summary>Kills the Redis connections whose client name is <paramref name="clientName"/> (and only those: the server is shared).</summary>
    public static async Task<int> KillRedisClientsAsync(IConnectionMultiplexer admin, string clientName)
    {
        var server = admin.GetServers()[0];
        var killed = 0;
        foreach (var client in await server.ClientListAsync())
        {
            if (client.Name == clientName)
            {
                await server.ExecuteAsync("CLIENT", "KILL", "ID", client.Id.ToString(CultureInfo.InvariantCulture));
                killed++;
            }
        }

        return killed;
    }

    /// <summary>pg_terminate_backend for every backend with the given application name; returns how many.</summary>
    public static async Task<int> TerminateBackendsAsync(string applicationName)
    {
        await using var connection = new Npgsql.NpgsqlConnection(TestServers.Instance.PostgresAdminConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()", connection);
        command.Parameters.Add(new() { Value = applicationName });
        return Convert.ToInt32(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    /// <summary>Percentile of a sorted list (nearest rank).</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];

    /// <summary>The one-line summary every fault test prints (docs/reliability.md quotes these).</summary>
    public static string Summary(string test, int scenarios, int faults, ComparisonReport report, TimeSpan elapsed) =>
        $"FAULTS {test}: scenarios={scenarios}, faults injected={faults}, records checked={report.Checked}, lost={report.Missing}, duplicated={report.Duplicated}, regressed={report.Regressed}, mismatched={report.Mismatched}, elapsed={elapsed.TotalSeconds:0.0}s";
}
