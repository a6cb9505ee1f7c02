using System.Text.Json;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.WorkerProtocol;

/// <summary>
/// The admin functions declare <c>authLevel: admin</c> in the metadata the worker hands the host: the host then answers
/// a function key with 401 before the worker runs (checked under the real host, docs/functions.md). Read over gRPC from
/// the published app, as the host reads it.
/// </summary>
public sealed class AdminAuthorizationTests
{
    [Fact]
    public async Task AdminFunctions_DeclareAdminAuthorization_OthersFunction()
    {
        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await using var h = await ArchiveHarness.CreateAsync();
        var app = await PublishedFunctionsApp.GetAsync(budget.Token);
        var appSettings = new Dictionary<string, string?>(h.Settings) { ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true" };
        await using var host = await HostSession.StartAsync(app, appSettings, TimeSpan.FromSeconds(120), budget.Token);
        await host.InitializeAsync();

        var levels = (await host.IndexFunctionsAsync())
            .Select(f => (f.Name, Trigger: f.RawBindings.Select(b => JsonDocument.Parse(b).RootElement).FirstOrDefault(b => b.GetProperty("type").GetString() == "httpTrigger")))
            .Where(f => f.Trigger.ValueKind == JsonValueKind.Object)
            .ToDictionary(f => f.Name, f => f.Trigger.GetProperty("authLevel").GetString()!, StringComparer.Ordinal);

        Assert.Equal("Admin", levels["ArchiveExportUser"], ignoreCase: true);
        Assert.Equal("Admin", levels["ArchiveEraseUser"], ignoreCase: true);
        Assert.Equal("Function", levels["ArchiveRun"], ignoreCase: true);
        Assert.All(levels.Where(l => l.Key is not ("ArchiveExportUser" or "ArchiveEraseUser")), l => Assert.False(string.Equals("Anonymous", l.Value, StringComparison.OrdinalIgnoreCase), $"{l.Key} allows anonymous calls"));
    }
}
