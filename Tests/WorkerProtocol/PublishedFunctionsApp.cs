using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.WorkerProtocol;

/// <summary>
/// The published app as the host finds it: its folder and what its <c>worker.config.json</c> tells the host (how to
/// launch the worker, in which language, and whether the worker indexes its own functions).
/// </summary>
internal sealed record PublishedApp(string Folder, string Language, string ExecutablePath, string WorkerPath, bool WorkerIndexing);

/// <summary>
/// The Functions app as it is deployed: <c>dotnet publish</c> of Functions/ into this test run's work folder, once per
/// run. It publishes the build the test project was built with (same configuration, <c>--no-build</c>): building the
/// tests builds Functions/ first, so that build is current, and publishing it is a copy of a few seconds.
/// </summary>
internal static class PublishedFunctionsApp
{
    private const string WorkerConfigFile = "worker.config.json";

    private static readonly TimeSpan s_publishLimit = TimeSpan.FromMinutes(5);
    private static readonly Lazy<Task<PublishedApp>> s_app = new(PublishAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The published app (published on first use; the caller's token only bounds its wait).</summary>
    public static Task<PublishedApp> GetAsync(CancellationToken cancellationToken) => s_app.Value.WaitAsync(cancellationToken);

    private static async Task<PublishedApp> PublishAsync()
    {
        var project = Repository.Path("Functions", "NexusArchive.Functions.csproj");
        var configuration = typeof(PublishedFunctionsApp).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        var folder = Path.Combine(TestServers.Instance.WorkDirectory, "functions-app");

        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "publish", project, "-c", configuration, "--no-build", "-o", folder, "--nologo", "-v:minimal", "-nodeReuse:false" })
        {
            info.ArgumentList.Add(arg);
        }

        // No MSBuild node, build server or compiler server outlives the publish.
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        info.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        info.Environment["UseSharedCompilation"] = "false";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";

        var output = new StringBuilder();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var limit = new CancellationTokenSource(s_publishLimit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"dotnet publish of {project} did not finish within {s_publishLimit}:\n{Text(output)}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"dotnet publish {project} -c {configuration} --no-build exited {process.ExitCode} (build the tests first: dotnet build Tests -c {configuration}):\n{Text(output)}");
        }

        return ReadWorkerConfig(folder);
    }

    /// <summary>The host launches <c>{defaultExecutablePath} {defaultWorkerPath}</c> from <c>worker.config.json</c> beside the app.</summary>
    private static PublishedApp ReadWorkerConfig(string folder)
    {
        var path = Path.Combine(folder, WorkerConfigFile);
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"The published app has no {WorkerConfigFile}: the Functions host would not know how to start its worker ({folder}).");
        }

        using var config = JsonDocument.Parse(File.ReadAllText(path));
        var description = config.RootElement.GetProperty("description");
        string Setting(string name) => description.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : string.Empty;
        var workerIndexing = description.TryGetProperty("workerIndexing", out var indexing)
            && (indexing.ValueKind == JsonValueKind.True || (indexing.ValueKind == JsonValueKind.String && bool.TryParse(indexing.GetString(), out var on) && on));
        var app = new PublishedApp(folder, Setting("language"), Setting("defaultExecutablePath"), Setting("defaultWorkerPath"), workerIndexing);
        if (string.IsNullOrEmpty(app.ExecutablePath) || string.IsNullOrEmpty(app.WorkerPath) || !File.Exists(Path.Combine(folder, app.WorkerPath)))
        {
            throw new InvalidOperationException(
                $"{WorkerConfigFile} names executable '{app.ExecutablePath}' and worker '{app.WorkerPath}', which is not in {folder}: the host could not start the worker.");
        }

        return app;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static string Text(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }
}
