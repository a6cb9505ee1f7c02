using System.Text.Json;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.EndToEnd;

/// <summary>The CLI as an operator runs it: a real process against real servers.</summary>
public sealed class CliEndToEndTests
{
    [Fact]
    public async Task Cli_MigrateSeedArchiveStatus_ArchivesTheDemoSetAndTheSecondPassHasNothingToDo()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);

        var migrate = await CliRunner.RunAsync(h.Settings, "migrate");
        Assert.True(migrate.ExitCode == 0, migrate.Stderr);
        Assert.Contains("Applied migrations 1", migrate.Stdout);

        var seed = await CliRunner.RunAsync(h.Settings, "seed-demo", "--users", "5");
        Assert.True(seed.ExitCode == 0, seed.Stderr);
        var again = await CliRunner.RunAsync(h.Settings, "seed-demo", "--users", "5");
        Assert.Contains("already in Redis", again.Stdout);

        var first = await CliRunner.RunAsync(h.Settings, "archive", "--json");
        Assert.True(first.ExitCode == 0, first.Stderr);
        using var firstRun = JsonDocument.Parse(first.Stdout);
        var expected = 5 + await h.Redis.SortedSetLengthAsync($"{h.Prefix}:changes:session")
            + await h.Redis.SortedSetLengthAsync($"{h.Prefix}:changes:message") + await h.Redis.SortedSetLengthAsync($"{h.Prefix}:changes:attachment");
        Assert.Equal("Succeeded", firstRun.RootElement.GetProperty("status").GetString());
        Assert.Equal(expected, firstRun.RootElement.GetProperty("totalUpserted").GetInt64());
        Assert.Equal(expected, await h.CountAsync("users") + await h.CountAsync("chat_sessions") + await h.CountAsync("messages") + await h.CountAsync("attachment_refs"));

        var second = await CliRunner.RunAsync(h.Settings, "archive");
        Assert.True(second.ExitCode == 0, second.Stderr);
        Assert.Contains("SUCCEEDED", second.Stdout);
        Assert.Contains("0 rows upserted", second.Stdout);

        var status = await CliRunner.RunAsync(h.Settings, "status", "--json");
        Assert.True(status.ExitCode == 0, status.Stderr);
        using var report = JsonDocument.Parse(status.Stdout);
        Assert.Equal(4, report.RootElement.GetProperty("entities").GetArrayLength());
        Assert.All(report.RootElement.GetProperty("entities").EnumerateArray(), e => Assert.Equal(0, e.GetProperty("backlog").GetInt64()));
        Assert.Equal(2, report.RootElement.GetProperty("recentRuns").GetArrayLength());

        var verified = await CliRunner.RunAsync(h.Settings, "verify");
        Assert.True(verified.ExitCode == 0, verified.Stdout + verified.Stderr);

        // Lose one archived row: verify must see a real gap and say so with its exit code.
        await h.QueryAsync("DELETE FROM {t}.messages WHERE id = (SELECT min(id) FROM {t}.messages) RETURNING id");
        var gap = await CliRunner.RunAsync(h.Settings, "verify", "--entity", "message", "--json");
        Assert.Equal(1, gap.ExitCode);

        // A dry-run restore of one user while Redis still holds every record: everything is skipped, nothing written.
        var user = (string)(await h.QueryAsync("SELECT min(id) AS id FROM {t}.users"))[0]["id"]!;
        var restore = await CliRunner.RunAsync(h.Settings, "restore", "--user", user, "--dry-run");
        Assert.True(restore.ExitCode == 0, restore.Stdout + restore.Stderr);
        Assert.Contains(" 0 would be written", restore.Stdout);
    }

    [Theory]
    [InlineData("ConnectionStrings:Redis", null, "ConnectionStrings:Redis is missing")]
    [InlineData("ConnectionStrings:Redis", "rediss://user:pw@host:notaport", "ConnectionStrings:Redis")]
    [InlineData("ConnectionStrings:Postgres", "", "ConnectionStrings:Postgres is missing")]
    [InlineData("Archive:PageSize", "0", "Archive:PageSize")]
    [InlineData("Archive:SettleWindow", "five seconds", "Archive:SettleWindow")]
    [InlineData("Archive:KeyPrefix", "nexus:*", "Archive:KeyPrefix")]
    public async Task Cli_BadSetting_StopsBeforeWorkWithMessageNamingIt(string setting, string? value, string expected)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = TestServers.Instance.RedisConnectionString,
            ["ConnectionStrings:Postgres"] = TestServers.Instance.PostgresAdminConnectionString,
            [setting] = value,
        };
        if (value is null)
        {
            settings.Remove(setting);
            settings[setting] = string.Empty;
        }

        var result = await CliRunner.RunAsync(settings, "archive");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.Stderr);
    }

    [Fact]
    public async Task Cli_UnknownEntity_ExitsWithUsageError()
    {
        await using var h = await ArchiveHarness.CreateAsync();

        var result = await CliRunner.RunAsync(h.Settings, "archive", "--entity", "reaction");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Unknown entity 'reaction'", result.Stderr);
    }
}
