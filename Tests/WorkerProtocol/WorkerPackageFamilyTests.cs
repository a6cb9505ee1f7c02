using System.Text.Json;

namespace NexusArchive.Tests.WorkerProtocol;

/// <summary>
/// The guard for the defect a real Functions host found: <c>Microsoft.Azure.Functions.Worker.ApplicationInsights</c>
/// 2.51.0 brought <c>Worker.Core</c> 2.52.0 while <c>Worker</c> and <c>Worker.Grpc</c> stayed at 2.51.0, and every
/// invocation then failed with <c>MissingMethodException</c>. The worker's core packages ship as one release; this reads
/// the published app's <c>deps.json</c> (what the worker actually loads) and requires one version for all of them.
/// </summary>
public sealed class WorkerPackageFamilyTests
{
    /// <summary>Released together, versioned together (github.com/Azure/azure-functions-dotnet-worker, src/).</summary>
    private static readonly string[] s_family =
        ["Microsoft.Azure.Functions.Worker", "Microsoft.Azure.Functions.Worker.Core", "Microsoft.Azure.Functions.Worker.Grpc"];

    [Fact]
    public async Task PublishedApp_WorkerCoreAndGrpc_AreOneRelease()
    {
        var app = await PublishedFunctionsApp.GetAsync(CancellationToken.None);
        var depsFile = Path.Combine(app.Folder, "NexusArchive.Functions.deps.json");
        using var deps = JsonDocument.Parse(await File.ReadAllTextAsync(depsFile));

        var resolved = deps.RootElement.GetProperty("libraries").EnumerateObject()
            .Select(l => l.Name.Split('/'))
            .Where(n => n[0].StartsWith("Microsoft.Azure.Functions.Worker", StringComparison.Ordinal))
            .ToDictionary(n => n[0], n => n[1], StringComparer.Ordinal);

        var family = s_family.ToDictionary(p => p, p => resolved.GetValueOrDefault(p) ?? "(missing)");
        var described = string.Join(", ", family.Select(f => $"{f.Key} {f.Value}"));
        Assert.True(family.Values.Distinct().Count() == 1 && !family.ContainsValue("(missing)"),
            $"{depsFile} mixes worker releases: {described}. Pin Microsoft.Azure.Functions.Worker in Directory.Packages.props to the version "
            + "that the other Worker packages bring (see Microsoft.Azure.Functions.Worker.Core), so the worker does not fail every invocation.");
    }
}
