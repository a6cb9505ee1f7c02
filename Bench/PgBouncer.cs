using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace NexusArchive.Bench;

/// <summary>
/// A PgBouncer (Debian's <c>pgbouncer</c> package, installed by <c>scripts/install-prereqs.sh</c>) in transaction pooling
/// mode on a free loopback port in front of the benchmark's PostgreSQL, as Supabase's pooler on port 6543 is. Clients
/// are trusted; PgBouncer logs in to PostgreSQL with the benchmark's own user and password (its auth file). It runs as the
/// <c>postgres</c> user when the benchmark runs as root (PgBouncer refuses root) and is killed on dispose.
/// </summary>
internal sealed class PgBouncer : IDisposable
{
    private readonly Process _process;
    private readonly string _folder;
    private readonly ConcurrentQueue<string> _output = new();

    private PgBouncer(Process process, string folder, int port, int poolSize)
    {
        _process = process;
        _folder = folder;
        Port = port;
        PoolSize = poolSize;
    }

    public int Port { get; }

    public int PoolSize { get; }

    /// <summary>What <c>pgbouncer --version</c> prints first, e.g. <c>PgBouncer 1.18.0</c>.</summary>
    public static string Version()
    {
        var info = new ProcessStartInfo(Find() ?? "pgbouncer", "--version") { RedirectStandardOutput = true, UseShellExecute = false };
        using var process = Process.Start(info)!;
        var first = process.StandardOutput.ReadLine();
        process.WaitForExit();
        return first?.Trim() ?? "PgBouncer";
    }

    /// <summary>Where pgbouncer is, or null: on PATH or where Debian puts it.</summary>
    public static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/sbin")
            .Select(dir => Path.Combine(dir, "pgbouncer"))
            .FirstOrDefault(File.Exists);

    public static PgBouncer Start(NpgsqlConnectionStringBuilder target, int poolSize)
    {
        var binary = Find() ?? throw new InvalidOperationException("pgbouncer was not found (apt-get install pgbouncer; scripts/install-prereqs.sh installs it).");
        var folder = Path.Combine(Path.GetTempPath(), $"nexus-bench-pgbouncer-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(folder);
        var port = FreePort();
        var userlist = Path.Combine(folder, "userlist.txt");
        File.WriteAllText(userlist, $"\"{target.Username}\" \"{target.Password}\"\n");
        var ini = Path.Combine(folder, "pgbouncer.ini");
        File.WriteAllText(ini, $"""
            [databases]
            * = host={target.Host} port={target.Port.ToString(CultureInfo.InvariantCulture)}

            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port.ToString(CultureInfo.InvariantCulture)}
            unix_socket_dir =
            auth_type = trust
            auth_file = {userlist}
            pool_mode = transaction
            default_pool_size = {poolSize.ToString(CultureInfo.InvariantCulture)}
            max_client_conn = 500
            ignore_startup_parameters = extra_float_digits,options,search_path
            logfile = {Path.Combine(folder, "pgbouncer.log")}
            """);
        var root = Environment.UserName == "root";
        if (root)
        {
            Run("chown", ["-R", "postgres:postgres", folder]);
            Run("chmod", ["700", folder]);
        }

        var info = new ProcessStartInfo(root ? "runuser" : binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in root ? ["-u", "postgres", "--", binary, ini] : new[] { ini })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        var bouncer = new PgBouncer(process, folder, port, poolSize);
        process.OutputDataReceived += (_, e) => bouncer._output.Enqueue(e.Data ?? string.Empty);
        process.ErrorDataReceived += (_, e) => bouncer._output.Enqueue(e.Data ?? string.Empty);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                return bouncer;
            }
            catch (SocketException) when (waited.Elapsed < TimeSpan.FromSeconds(15) && !process.HasExited)
            {
                Thread.Sleep(50);
            }
            catch (SocketException)
            {
                var log = bouncer.Log();
                bouncer.Dispose();
                throw new InvalidOperationException($"pgbouncer did not listen on {port}: {log}");
            }
        }
    }

    /// <summary>Its output and log file, for an error message.</summary>
    public string Log()
    {
        var file = Path.Combine(_folder, "pgbouncer.log");
        return string.Join('\n', _output) + (File.Exists(file) ? "\n" + File.ReadAllText(file) : string.Empty);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // best effort: a temp folder
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Run(string file, string[] args)
    {
        using var process = Process.Start(file, args);
        process.WaitForExit();
    }
}
