using System.Diagnostics;
using System.Net.Sockets;
using Azure.Storage.Queues;

namespace NexusArchive.Tests.Infrastructure;

/// <summary>
/// A real Azurite queue service (the Azure Storage emulator, from npm) for the whole test run, started on a free loopback
/// port with in-memory persistence and stopped when the test process exits. <c>scripts/test.sh</c> installs it
/// (<c>scripts/install-azurite.sh</c>) and exports <c>NEXUS_AZURITE_DIR</c>; without it the fixture looks in
/// <c>.local/tools/azurite-*</c> of the repository. Missing, it fails the test with the command that installs it.
/// </summary>
public sealed class TestAzurite
{
    public const string SetupHint = "Run ./scripts/test.sh, or scripts/install-azurite.sh and export NEXUS_AZURITE_DIR to the folder it prints.";

    /// <summary>Azurite's well-known development account (public, documented by Microsoft; not a secret).</summary>
    private const string DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private static readonly Lazy<TestAzurite> s_instance = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);
    private Process? _process;

    private TestAzurite()
    {
    }

    public static TestAzurite Instance => s_instance.Value;

    public int QueuePort { get; private set; }

    /// <summary>A storage connection string for the emulator's queue service (what <c>ArchiveQueue</c> would hold).</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DevelopmentAccountKey};QueueEndpoint=http://127.0.0.1:{QueuePort}/devstoreaccount1;";

    /// <summary>A new, empty queue and its poison queue (named as the host names it: <c>{queue}-poison</c>).</summary>
    public async Task<(QueueClient Queue, QueueClient Poison)> CreateQueueAsync()
    {
        var name = $"q{Guid.NewGuid():N}";
        var options = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None };
        var queue = new QueueClient(ConnectionString, name, options);
        var poison = new QueueClient(ConnectionString, name + "-poison", options);
        await queue.CreateIfNotExistsAsync();
        await poison.CreateIfNotExistsAsync();
        return (queue, poison);
    }

    /// <summary>Set on every Azurite this fixture starts: the test process that owns it.</summary>
    private const string OwnerVariable = "NEXUS_TEST_AZURITE_OWNER";

    private static TestAzurite Start()
    {
        StopAzuriteOfDeadRuns();
        var azurite = new TestAzurite();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => azurite.Stop();
        azurite.StartQueueService();
        return azurite;
    }

    private void StartQueueService()
    {
        var script = FindQueueScript() ?? throw new InvalidOperationException($"Azurite was not found (NEXUS_AZURITE_DIR or the repository's .local/tools/azurite-*/node_modules/.bin/azurite-queue). {SetupHint}");
        var node = TestServers.FindOnPath("node") ?? throw new InvalidOperationException($"Node.js (node) was not found on PATH; Azurite needs it. {SetupHint}");
        QueuePort = TestServers.FreePort();
        var info = new ProcessStartInfo(node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment[OwnerVariable] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var arg in new[]
                 {
                     script, "--queueHost", "127.0.0.1", "--queuePort", QueuePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--inMemoryPersistence", "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
                 })
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException($"Azurite did not start. {SetupHint}");
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        _process.OutputDataReceived += (_, e) => output.Enqueue(e.Data ?? string.Empty);
        _process.ErrorDataReceived += (_, e) => output.Enqueue(e.Data ?? string.Empty);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var started = TimeProvider.System.GetTimestamp();
        while (TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(30))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Azurite exited with code {_process.ExitCode} at start-up: {string.Join('\n', output).Trim()} {SetupHint}");
            }

            try
            {
                using var client = new TcpClient();
                client.Connect("127.0.0.1", QueuePort);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(100);
            }
        }

        throw new InvalidOperationException($"Azurite's queue service did not listen on 127.0.0.1:{QueuePort} within 30 s. {SetupHint}");
    }

    private static string? FindQueueScript()
    {
        var folders = new List<string>();
        if (Environment.GetEnvironmentVariable("NEXUS_AZURITE_DIR") is { Length: > 0 } configured)
        {
            folders.Add(configured);
        }

        var tools = Repository.Path(".local", "tools");
        if (Directory.Exists(tools))
        {
            folders.AddRange(Directory.GetDirectories(tools, "azurite-*").Order(StringComparer.Ordinal).Reverse());
        }

        return folders
            .Select(f => Path.Combine(f, "node_modules", "azurite", "dist", "src", "queue", "main.js"))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>
    /// The test host does not always get to run its exit handlers (the runner may end it first), and Azurite is a child
    /// Node process that outlives it. Stop the ones whose owning test process is gone.
    /// </summary>
    private static void StopAzuriteOfDeadRuns()
    {
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out var pid))
            {
                continue;
            }

            try
            {
                var owner = File.ReadAllText(Path.Combine(proc, "environ"))
                    .Split('\0')
                    .FirstOrDefault(v => v.StartsWith(OwnerVariable + "=", StringComparison.Ordinal))?[(OwnerVariable.Length + 1)..];
                if (int.TryParse(owner, out var ownerPid) && ownerPid != Environment.ProcessId && !Directory.Exists($"/proc/{ownerPid}"))
                {
                    using var orphan = Process.GetProcessById(pid);
                    orphan.Kill(entireProcessTree: true);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // gone already, or not ours to inspect
            }
        }
    }

    private void Stop()
    {
        try
        {
            if (_process is { HasExited: false })
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }
}
