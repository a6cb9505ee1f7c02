using System.Diagnostics;
using System.Globalization;

namespace NexusArchive.Tests.WorkerProtocol;

/// <summary>
/// The published worker started the way the Functions host starts a dotnet-isolated worker: the executable and worker
/// path from its <c>worker.config.json</c> (<c>dotnet {app}/NexusArchive.Functions.dll</c>) in the app folder, with the gRPC endpoint and ids on the command line (both the
/// current <c>--functions-*</c> switches and the legacy <c>--host/--port/...</c> ones the host still passes) and the app
/// settings as environment variables. Keeps the last lines of its stdout and stderr; disposing kills the process tree.
/// </summary>
internal sealed class FunctionsWorkerProcess : IAsyncDisposable
{
    /// <summary>What the host passes as the gRPC message limit (int.MaxValue).</summary>
    public const int GrpcMaxMessageLength = int.MaxValue;

    private const int KeptOutputLines = 200;

    private readonly Process _process;
    private readonly Queue<string> _output = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private FunctionsWorkerProcess(Process process)
    {
        _process = process;
    }

    public int ProcessId => _process.Id;

    /// <summary>Completes when the worker process exits, for whatever reason.</summary>
    public Task Exited => _exited.Task;

    /// <summary>The exit code once the process has exited, otherwise null.</summary>
    public int? ExitCode => _exited.Task.IsCompleted ? _process.ExitCode : null;

    public static FunctionsWorkerProcess Start(PublishedApp app, Uri hostEndpoint, string workerId, string requestId, IReadOnlyDictionary<string, string?> appSettings)
    {
        var appFolder = app.Folder;
        var info = new ProcessStartInfo(app.ExecutablePath)
        {
            WorkingDirectory = appFolder,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var maxMessageLength = GrpcMaxMessageLength.ToString(CultureInfo.InvariantCulture);
        string[] args =
        [
            Path.Combine(appFolder, app.WorkerPath),
            "--host", hostEndpoint.Host,
            "--port", hostEndpoint.Port.ToString(CultureInfo.InvariantCulture),
            "--workerId", workerId,
            "--requestId", requestId,
            "--grpcMaxMessageLength", maxMessageLength,
            "--functions-uri", hostEndpoint.AbsoluteUri,
            "--functions-worker-id", workerId,
            "--functions-request-id", requestId,
            "--functions-grpc-max-message-length", maxMessageLength,
        ];
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // Nothing from the developer's environment leaks into the app's settings: only what the test passes.
        foreach (var key in info.Environment.Keys
            .Where(k => k.StartsWith("ConnectionStrings__", StringComparison.Ordinal) || k.StartsWith("Archive__", StringComparison.Ordinal)
                || k.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || k.StartsWith("AZURE_FUNCTIONS_", StringComparison.Ordinal))
            .ToList())
        {
            info.Environment.Remove(key);
        }

        // What the host adds for a worker it launches, then the app settings (Archive:PageSize → Archive__PageSize).
        info.Environment["FUNCTIONS_WORKER_RUNTIME"] = "dotnet-isolated";
        info.Environment["FUNCTIONS_APPLICATION_DIRECTORY"] = appFolder;
        info.Environment["FUNCTIONS_WORKER_DIRECTORY"] = appFolder;
        info.Environment["AzureWebJobsScriptRoot"] = appFolder;
        foreach (var (key, value) in appSettings)
        {
            info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var worker = new FunctionsWorkerProcess(process);
        process.OutputDataReceived += (_, e) => worker.Keep("out", e.Data);
        process.ErrorDataReceived += (_, e) => worker.Keep("err", e.Data);
        process.Exited += (_, _) => worker._exited.TrySetResult();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    /// <summary>The last lines the worker wrote to stdout and stderr, each marked with its stream.</summary>
    public string OutputTail()
    {
        lock (_output)
        {
            return _output.Count == 0 ? "(nothing)" : string.Join('\n', _output);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_exited.Task.IsCompleted)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // exited in between
            }
        }

        using var reaped = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync(reaped.Token);
        }
        catch (OperationCanceledException)
        {
            // the kill was sent; nothing more to do from here
        }

        _process.Dispose();
    }

    private void Keep(string stream, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue($"[{stream}] {line}");
            while (_output.Count > KeptOutputLines)
            {
                _output.Dequeue();
            }
        }
    }
}
