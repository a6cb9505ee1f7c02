using System.Diagnostics;
using System.Text.Json;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Security;

/// <summary>The CLI's <c>migrate</c> runs as an admin role while <c>archive</c> runs as the least-privilege archiver.</summary>
public sealed class CliRolesTests
{
    [Fact]
    public async Task Cli_MigrateAsAdmin_ArchiveAsArchiver_ArchiverCannotMigrate()
    {
        var adminConnection = TestServers.Instance.CreateDatabase("cliroles");
        await using var h = await ArchiveHarness.CreateAsync(s => s["ConnectionStrings:Postgres"] = adminConnection, migrate: false);
        var archiverConnection = await RoleSql.CreateLoginAsync(adminConnection, "nexus_archiver", "cli-archiver-pw");

        // Before migrate, the archiver may not create the schemas itself.
        var refused = await RunCliAsync(h, archiverConnection, "migrate");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("42501", refused.Output);

        var migrate = await RunCliAsync(h, adminConnection, "migrate");
        Assert.True(migrate.ExitCode == 0, migrate.Output);
        Assert.Contains("Applied migrations 1, 2", migrate.Output);

        await RowLevelSecurityTests.SeedTwoUsersAsync(h);
        var archive = await RunCliAsync(h, archiverConnection, "archive", "--json");
        Assert.True(archive.ExitCode == 0, archive.Output);
        var json = archive.Output[archive.Output.IndexOf('{', StringComparison.Ordinal)..];
        using var result = JsonDocument.Parse(json[..(json.LastIndexOf('}') + 1)]);
        Assert.Equal("Succeeded", result.RootElement.GetProperty("status").GetString());
        Assert.Equal(9, await h.CountAsync("messages"));
        Assert.Equal(2, await h.CountAsync("users"));
    }

    private static async Task<(int ExitCode, string Output)> RunCliAsync(ArchiveHarness h, string postgres, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "nexus-archive.dll");
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in h.Settings)
        {
            info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        info.Environment["ConnectionStrings__Postgres"] = postgres;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
