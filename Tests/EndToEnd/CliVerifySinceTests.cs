using System.Text.Json;
using NexusArchive.Core.Entities;
using NexusArchive.Tests.Functions;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.EndToEnd;

/// <summary><c>verify --since</c> and the last verification in <c>status</c>, as an operator runs them: a real CLI process.</summary>
public sealed class CliVerifySinceTests
{
    [Fact]
    public async Task VerifySince_ContinuesFromTheRecordedPoint_FindsAnEditAroundTheWriter_AndStatusShowsIt()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await FunctionsTestKit.WriteMessagesAsync(h, 12);
        await h.RunAsync("message");

        var first = await CliRunner.RunAsync(h.Settings, "verify", "--since", "--entity", "message", "--json");
        Assert.True(first.ExitCode == 0, first.Stdout + first.Stderr);
        using (var report = JsonDocument.Parse(first.Stdout))
        {
            var message = report.RootElement.GetProperty("entities")[0];
            Assert.Equal("Succeeded", report.RootElement.GetProperty("status").GetString());
            Assert.True(report.RootElement.GetProperty("ok").GetBoolean());
            Assert.Equal(12, message.GetProperty("changes").GetProperty("checked").GetInt64());
            Assert.Equal(JsonValueKind.Null, message.GetProperty("changes").GetProperty("afterScore").ValueKind);
        }

        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-000003"), "content", "edited around the Lua writer");
        var second = await CliRunner.RunAsync(h.Settings, "verify", "--since", "--entity", "message");
        Assert.True(second.ExitCode == 1, second.Stdout + second.Stderr);
        Assert.Contains("DIFFERENCES", second.Stdout, StringComparison.Ordinal);
        Assert.Contains("message:m-000003", second.Stdout, StringComparison.Ordinal);

        var status = await CliRunner.RunAsync(h.Settings, "status", "--json");
        Assert.True(status.ExitCode == 0, status.Stderr);
        using var statusReport = JsonDocument.Parse(status.Stdout);
        var last = statusReport.RootElement.GetProperty("lastVerification");
        Assert.Equal("incremental", last.GetProperty("kind").GetString());
        Assert.Equal("cli", last.GetProperty("trigger").GetString());
        Assert.True(last.GetProperty("differences").GetInt64() > 0);

        var text = await CliRunner.RunAsync(h.Settings, "status");
        Assert.Contains("Last verification:", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("(incremental, cli,", text.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifySince_WithAUserScope_IsAUsageError()
    {
        await using var h = await ArchiveHarness.CreateAsync();

        var result = await CliRunner.RunAsync(h.Settings, "verify", "--since", "--user", "u-1");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--since", result.Stderr, StringComparison.Ordinal);
    }
}
