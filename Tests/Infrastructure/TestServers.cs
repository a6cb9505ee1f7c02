using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Tests.Infrastructure;

/// <summary>
/// Real <c>redis-server</c> and PostgreSQL processes for the whole test run, started from their binaries on free
/// loopback ports in a temporary folder (PostgreSQL as the <c>postgres</c> user when the tests run as root) and
/// stopped when the test process exits. Set <c>NEXUS_TEST_REDIS</c> and <c>NEXUS_TEST_POSTGRES</c> to reuse
/// running servers instead. A missing binary fails the test with the command that installs it.
/// </summary>
public sealed class TestServers
{
    public const string SetupHint = "Run ./scripts/test.sh (it installs redis-server and postgresql via scripts/install-prereqs.sh), or set NEXUS_TEST_REDIS and NEXUS_TEST_POSTGRES to running servers.";

    private static readonly Lazy<TestServers> s_instance = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly string s_runFolderPrefix = Path.Combine(Path.GetTempPath(), "nexus-archive-tests-");

    private readonly List<Action> _cleanup = [];
    private int _databaseCounter;

    private TestServers()
    {
    }

    /// <summary>The servers, started on first use.</summary>
    public static TestServers Instance => s_instance.Value;

    /// <summary>StackExchange.Redis configuration string of the test Redis.</summary>
    public string RedisConnectionString { get; private set; } = string.Empty;

    /// <summary>Npgsql connection string of the test PostgreSQL's admin database (<c>postgres</c>).</summary>
    public string PostgresAdminConnectionString { get; private set; } = string.Empty;

    public int RedisPort { get; private set; }

    public int PostgresPort { get; private set; }

    /// <summary>The PostgreSQL data directory when this fixture started the server (null when reusing one).</summary>
    public string? PostgresDataDirectory { get; private set; }

    /// <summary>The PostgreSQL binaries folder (pg_ctl, initdb, …).</summary>
    public string? PostgresBinDirectory { get; private set; }

    public string WorkDirectory { get; private set; } = string.Empty;

    /// <summary>Creates a fresh database for one test class and returns its connection string.</summary>
    public string CreateDatabase(string hint)
    {
        var name = $"t_{Environment.ProcessId}_{Interlocked.Increment(ref _databaseCounter)}_{new string([.. hint.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).Take(20)])}";
        using (var connection = new NpgsqlConnection(PostgresAdminConnectionString))
        {
            connection.Open();
            using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            command.ExecuteNonQuery();
        }

        return new NpgsqlConnectionStringBuilder(PostgresAdminConnectionString) { Database = name }.ConnectionString;
    }

    private static TestServers Start()
    {
        var servers = new TestServers();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => servers.Stop();
        try
        {
            servers.StartServers();
        }
        catch
        {
            servers.Stop();
            throw;
        }

        return servers;
    }

    private void StartServers()
    {
        StopServersOfDeadRuns();
        WorkDirectory = s_runFolderPrefix + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Directory.CreateDirectory(WorkDirectory);
        _cleanup.Add(() => TryDeleteDirectory(WorkDirectory));

        var redis = Environment.GetEnvironmentVariable("NEXUS_TEST_REDIS");
        RedisConnectionString = string.IsNullOrEmpty(redis) ? StartRedis() : redis;

        var postgres = Environment.GetEnvironmentVariable("NEXUS_TEST_POSTGRES");
        PostgresAdminConnectionString = string.IsNullOrEmpty(postgres) ? StartPostgres() : postgres;
        PostgresBinDirectory ??= FindPostgresBin();
    }

    private string StartRedis()
    {
        var redisServer = FindOnPath("redis-server")
            ?? throw new InvalidOperationException("redis-server was not found on PATH. " + SetupHint);
        RedisPort = FreePort();
        var directory = Path.Combine(WorkDirectory, "redis");
        Directory.CreateDirectory(directory);
        var process = StartProcess(redisServer, ["--port", RedisPort.ToString(), "--bind", "127.0.0.1", "--dir", directory, "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]);
        _cleanup.Insert(0, () => StopProcess(process));
        var connectionString = $"127.0.0.1:{RedisPort},abortConnect=false,connectTimeout=2000";
        WaitFor(() =>
        {
            using var mux = ConnectionMultiplexer.Connect(connectionString);
            return mux.GetDatabase().Ping() >= TimeSpan.Zero;
        }, "redis-server", TimeSpan.FromSeconds(15));
        return connectionString;
    }

    private string StartPostgres()
    {
        var bin = FindPostgresBin() ?? throw new InvalidOperationException("PostgreSQL server binaries (/usr/lib/postgresql/*/bin/postgres) were not found. " + SetupHint);
        PostgresBinDirectory = bin;
        PostgresPort = FreePort();
        var root = Path.Combine(WorkDirectory, "pg");
        var data = Path.Combine(root, "data");
        Directory.CreateDirectory(root);
        var asRoot = Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root" || GetUid() == 0;
        if (asRoot)
        {
            // PostgreSQL refuses to run as root: hand the folder to the 'postgres' system user and run as it.
            Run("chmod", ["755", WorkDirectory]);
            Run("chown", ["-R", "postgres:postgres", root]);
        }

        RunAs(asRoot, Path.Combine(bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
        PostgresDataDirectory = data;
        var options = $"-p {PostgresPort} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=256MB";
        RunAs(asRoot, Path.Combine(bin, "pg_ctl"), ["-D", data, "-l", Path.Combine(root, "postgres.log"), "-w", "-t", "60", "-o", options, "start"]);
        // After the Redis kill (instant) and before the folder is deleted: if the test host is cut short while pg_ctl
        // waits, Redis is already gone.
        _cleanup.Insert(_cleanup.Count - 1, () => RunAs(asRoot, Path.Combine(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"], throwOnError: false));
        return $"Host=127.0.0.1;Port={PostgresPort};Username=postgres;Database=postgres;Include Error Detail=true;Maximum Pool Size=50";
    }

    /// <summary>
    /// A test host that was cut short before its exit handler finished leaves its servers running or its folder behind
    /// (a PostgreSQL data folder is ~250 MB): stop the servers of test runs whose process is gone and delete their folders.
    /// </summary>
    private static void StopServersOfDeadRuns()
    {
        StopRedisOfDeadRuns();
        foreach (var folder in Directory.EnumerateDirectories(Path.GetTempPath(), Path.GetFileName(s_runFolderPrefix) + "*"))
        {
            if (!IsInFolderOfDeadRun(folder))
            {
                continue;
            }

            var data = Path.Combine(folder, "pg", "data");
            if (File.Exists(Path.Combine(data, "postmaster.pid")) && FindPostgresBin() is { } bin)
            {
                RunAs(IsRoot, Path.Combine(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"], throwOnError: false);
            }

            TryDeleteDirectory(folder);
        }
    }

    private static void StopRedisOfDeadRuns()
    {
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            // Not Process.GetProcessesByName: redis-server rewrites its command line, so .NET sees another name.
            if (!int.TryParse(Path.GetFileName(proc), out var serverPid))
            {
                continue;
            }

            try
            {
                var cwd = new DirectoryInfo(Path.Combine(proc, "cwd")).LinkTarget;
                if (File.ReadAllText(Path.Combine(proc, "comm")).Trim() == "redis-server" && cwd is not null && IsInFolderOfDeadRun(cwd))
                {
                    using var server = Process.GetProcessById(serverPid);
                    server.Kill();
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // gone already, or not ours to inspect
            }
        }
    }

    /// <summary>True for a path inside the work folder of a test run (<c>{temp}/nexus-archive-tests-{pid}</c>) whose process is gone.</summary>
    private static bool IsInFolderOfDeadRun(string path) =>
        path.StartsWith(s_runFolderPrefix, StringComparison.Ordinal)
        && int.TryParse(path[s_runFolderPrefix.Length..].Split('/')[0], out var owner)
        && owner != Environment.ProcessId
        && !Directory.Exists($"/proc/{owner}");

    private void Stop()
    {
        foreach (var action in _cleanup)
        {
            try
            {
                action();
            }
            catch
            {
                // best effort: the process is exiting
            }
        }

        _cleanup.Clear();
    }

    public static string? FindPostgresBin()
    {
        var configured = Environment.GetEnvironmentVariable("NEXUS_PG_BIN");
        if (!string.IsNullOrEmpty(configured))
        {
            return configured;
        }

        const string Root = "/usr/lib/postgresql";
        if (!Directory.Exists(Root))
        {
            return null;
        }

        return Directory.GetDirectories(Root)
            .Select(d => Path.Combine(d, "bin"))
            .Where(d => File.Exists(Path.Combine(d, "postgres")))
            .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
            .FirstOrDefault();
    }

    public static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/sbin").Append("/usr/bin")
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static void RunAs(bool asPostgresUser, string file, IReadOnlyList<string> args, bool throwOnError = true)
    {
        if (asPostgresUser)
        {
            Run("runuser", ["-u", "postgres", "--", file, .. args], throwOnError);
        }
        else
        {
            Run(file, args, throwOnError);
        }
    }

    public static bool IsRoot => GetUid() == 0;

    public static string Run(string file, IReadOnlyList<string> args, bool throwOnError = true)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (throwOnError && process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {stderr.Result}{stdout.Result}");
        }

        return stdout.Result;
    }

    private static Process StartProcess(string file, IReadOnlyList<string> args)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void StopProcess(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
    }

    private static void WaitFor(Func<bool> probe, string what, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        Exception? last = null;
        while (deadline.Elapsed < timeout)
        {
            try
            {
                if (probe())
                {
                    return;
                }
            }
            catch (Exception ex)
            {
                last = ex;
            }

            Thread.Sleep(100);
        }

        throw new InvalidOperationException($"{what} did not become ready within {timeout}. {SetupHint}", last);
    }

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch
        {
            // best effort
        }
    }

    private static uint GetUid()
    {
        try
        {
            var status = File.ReadAllLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
            return status is null ? uint.MaxValue : uint.Parse(status.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        catch
        {
            return uint.MaxValue;
        }
    }
}
