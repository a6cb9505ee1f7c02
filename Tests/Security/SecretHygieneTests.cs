using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Archiving;
using NexusArchive.Tests.Infrastructure;
using Npgsql;

namespace NexusArchive.Tests.Security;

/// <summary>Passwords in connection strings never reach logs, exceptions, run history, status or run results.</summary>
public sealed class SecretHygieneTests
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task FailingPasses_PasswordInBothConnectionStrings_NeverEmitted()
    {
        var password = "Zq7-Secret-" + Guid.NewGuid().ToString("N")[..12];
        using var redis = ChildServer.StartRedisWithPassword(password);
        var goodRedis = $"redis://default:{password}@127.0.0.1:{redis.Port}";
        var deadRedis = $"127.0.0.1:{TestServers.FreePort()},password={password},connectTimeout=500,asyncTimeout=1000,syncTimeout=1000";
        var admin = new NpgsqlConnectionStringBuilder(TestServers.Instance.PostgresAdminConnectionString) { Password = password };
        var goodPostgres = admin.ConnectionString;
        var wrongDatabase = new NpgsqlConnectionStringBuilder(goodPostgres) { Database = "no_such_database_" + Guid.NewGuid().ToString("N")[..6] }.ConnectionString;
        var logs = new CapturingLoggerProvider();
        var emitted = new StringBuilder();

        // The archive exists (migrated with working credentials) so run history can record the failures.
        await using var ok = await CreateAsync(goodRedis, goodPostgres, logs, migrate: true, null);

        // 1. PostgreSQL: wrong database (the password is in the connection string; Redis is fine).
        await using (var h = await CreateAsync(goodRedis, wrongDatabase, logs, migrate: false, ok))
        {
            var run = await h.RunAsync();
            Assert.Equal(RunStatus.Failed, run.Status);
            Assert.Contains("PostgreSQL", run.Error);
            emitted.AppendLine(JsonSerializer.Serialize(run, s_json));
            var status = await Assert.ThrowsAnyAsync<Exception>(() => h.Services.GetRequiredService<StatusService>().GetAsync(CancellationToken.None));
            emitted.AppendLine(status.ToString());
        }

        // 2. Redis: unreachable port (password in the connection string; PostgreSQL is fine and records the run).
        Guid failedRunId;
        await using (var h = await CreateAsync(deadRedis, goodPostgres, logs, migrate: false, ok))
        {
            var run = await h.RunAsync();
            Assert.Equal(RunStatus.Failed, run.Status);
            Assert.Contains("Redis", run.Error);
            failedRunId = run.RunId;
            emitted.AppendLine(JsonSerializer.Serialize(run, s_json));
            var status = await Assert.ThrowsAnyAsync<Exception>(() => h.Services.GetRequiredService<StatusService>().GetAsync(CancellationToken.None));
            emitted.AppendLine(status.ToString());
        }

        // 3. Redis: wrong password (the wrong one is a secret too).
        await using (var h = await CreateAsync($"redis://default:{password}-wrong@127.0.0.1:{redis.Port}", goodPostgres, logs, migrate: false, ok))
        {
            var run = await h.RunAsync();
            Assert.Equal(RunStatus.Failed, run.Status);
            emitted.AppendLine(JsonSerializer.Serialize(run, s_json));
        }

        // Run history and the status report (as the HTTP endpoint serializes it) after the failures.
        var history = await ok.QueryAsync("SELECT row_to_json(r)::text AS j FROM {b}.runs r");
        Assert.Contains(history, r => ((string)r["j"]!).Contains(failedRunId.ToString(), StringComparison.Ordinal));
        emitted.AppendJoin('\n', history.Select(r => (string)r["j"]!));
        var report = await ok.Services.GetRequiredService<StatusService>().GetAsync(CancellationToken.None);
        Assert.Contains(report.RecentRuns, r => r.Status == "Failed" && r.Error is not null);
        emitted.AppendLine(JsonSerializer.Serialize(report, s_json));
        emitted.AppendJoin('\n', logs.Lines);

        Assert.Contains("[1002]", string.Join('\n', logs.Lines), StringComparison.Ordinal);
        Assert.True(logs.Lines.Count > 10, "the logs were captured");
        var text = emitted.ToString();
        Assert.False(text.Contains(password, StringComparison.Ordinal), "The password leaked:\n" + Excerpt(text, password));
    }

    private static Task<ArchiveHarness> CreateAsync(string redis, string postgres, CapturingLoggerProvider logs, bool migrate, ArchiveHarness? sameArchiveAs) =>
        ArchiveHarness.CreateAsync(
            s =>
            {
                if (sameArchiveAs is not null)
                {
                    foreach (var (key, value) in sameArchiveAs.Settings)
                    {
                        s[key] = value;
                    }
                }

                s["ConnectionStrings:Redis"] = redis;
                s["ConnectionStrings:Postgres"] = postgres;
            },
            migrate,
            services => services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs)));

    private static string Excerpt(string text, string secret)
    {
        var at = text.IndexOf(secret, StringComparison.Ordinal);
        var start = Math.Max(0, at - 300);
        return text[start..Math.Min(text.Length, at + secret.Length + 100)];
    }
}
