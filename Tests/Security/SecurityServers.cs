using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using NexusArchive.Tests.Infrastructure;
using Npgsql;

namespace NexusArchive.Tests.Security;

/// <summary>A self-signed certificate (SAN 127.0.0.1, localhost) and its key, made with openssl in a private folder.</summary>
internal sealed record TestCertificate(string CertificatePath, string KeyPath)
{
    public static TestCertificate Create(string directory)
    {
        var openssl = TestServers.FindOnPath("openssl") ?? throw new InvalidOperationException("openssl was not found on PATH. " + TestServers.SetupHint);
        var cert = Path.Combine(directory, "server.crt");
        var key = Path.Combine(directory, "server.key");
        TestServers.Run(openssl,
        [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", key, "-out", cert,
        ]);
        TestServers.Run("chmod", ["600", key]);
        return new TestCertificate(cert, key);
    }
}

/// <summary>A private folder for one server; handed to the postgres user when the tests run as root.</summary>
internal sealed class ServerFolder : IDisposable
{
    public ServerFolder(string name)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"nexus-sec-{Environment.ProcessId}-{name}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(Path);
        TestServers.Run("chmod", ["755", Path]);
    }

    public string Path { get; }

    /// <summary>Gives the folder (recursively) to the postgres user when running as root, so PostgreSQL and PgBouncer can use it.</summary>
    public void HandToPostgresUser()
    {
        if (TestServers.IsRoot)
        {
            TestServers.Run("chown", ["-R", "postgres:postgres", Path]);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch
        {
            // best effort
        }
    }
}

/// <summary>A private PostgreSQL cluster with <c>ssl=on</c> that rejects plain-text TCP connections.</summary>
internal sealed class TlsPostgres : IDisposable
{
    private readonly ServerFolder _folder;
    private readonly string _bin;
    private readonly string _data;

    private TlsPostgres(ServerFolder folder, string bin, string data, int port, TestCertificate certificate)
    {
        _folder = folder;
        _bin = bin;
        _data = data;
        Port = port;
        Certificate = certificate;
    }

    public int Port { get; }

    public TestCertificate Certificate { get; }

    public static TlsPostgres Start()
    {
        var bin = TestServers.FindPostgresBin() ?? throw new InvalidOperationException("PostgreSQL server binaries were not found. " + TestServers.SetupHint);
        var folder = new ServerFolder("pgtls");
        try
        {
            var certificate = TestCertificate.Create(folder.Path);
            var data = System.IO.Path.Combine(folder.Path, "data");
            folder.HandToPostgresUser();
            TestServers.RunAs(TestServers.IsRoot, System.IO.Path.Combine(bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
            File.WriteAllText(System.IO.Path.Combine(folder.Path, "pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n");
            folder.HandToPostgresUser();
            var port = TestServers.FreePort();
            var options = $"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder.Path} -c fsync=off -c synchronous_commit=off"
                + $" -c ssl=on -c ssl_cert_file={certificate.CertificatePath} -c ssl_key_file={certificate.KeyPath} -c hba_file={System.IO.Path.Combine(folder.Path, "pg_hba.conf")}";
            TestServers.RunAs(TestServers.IsRoot, System.IO.Path.Combine(bin, "pg_ctl"), ["-D", data, "-l", System.IO.Path.Combine(folder.Path, "postgres.log"), "-w", "-t", "60", "-o", options, "start"]);
            return new TlsPostgres(folder, bin, data, port, certificate);
        }
        catch
        {
            folder.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        TestServers.RunAs(TestServers.IsRoot, System.IO.Path.Combine(_bin, "pg_ctl"), ["-D", _data, "-m", "immediate", "stop"], throwOnError: false);
        _folder.Dispose();
    }
}

/// <summary>A long-running child process (redis-server, pgbouncer) killed with its process tree on dispose.</summary>
internal sealed class ChildServer : IDisposable
{
    private readonly Process _process;
    private readonly ServerFolder _folder;
    private readonly ConcurrentQueue<string> _output = new();

    public ChildServer(ServerFolder folder, string file, IReadOnlyList<string> args, int port)
    {
        _folder = folder;
        Port = port;
        var info = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => _output.Enqueue(e.Data ?? string.Empty);
        _process.ErrorDataReceived += (_, e) => _output.Enqueue(e.Data ?? string.Empty);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect("127.0.0.1", port);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(15) && !_process.HasExited)
            {
                Thread.Sleep(50);
            }
            catch (SocketException)
            {
                Dispose();
                throw new InvalidOperationException($"{file} did not listen on {port}: {string.Join('\n', _output)}. {TestServers.SetupHint}");
            }
        }
    }

    public int Port { get; }

    public string Output => string.Join('\n', _output);

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
        _folder.Dispose();
    }

    /// <summary>redis-server with TLS only (<c>--port 0</c>), a self-signed certificate and a password.</summary>
    public static (ChildServer Server, TestCertificate Certificate) StartTlsRedis(string password)
    {
        var redis = TestServers.FindOnPath("redis-server") ?? throw new InvalidOperationException("redis-server was not found on PATH. " + TestServers.SetupHint);
        var folder = new ServerFolder("redistls");
        var certificate = TestCertificate.Create(folder.Path);
        var port = TestServers.FreePort();
        var server = new ChildServer(folder, redis,
        [
            "--port", "0", "--tls-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
            "--tls-cert-file", certificate.CertificatePath, "--tls-key-file", certificate.KeyPath, "--tls-ca-cert-file", certificate.CertificatePath,
            "--tls-auth-clients", "no", "--requirepass", password, "--dir", folder.Path, "--save", "", "--appendonly", "no", "--loglevel", "warning",
        ], port);
        return (server, certificate);
    }

    /// <summary>A plain redis-server that requires a password.</summary>
    public static ChildServer StartRedisWithPassword(string password)
    {
        var redis = TestServers.FindOnPath("redis-server") ?? throw new InvalidOperationException("redis-server was not found on PATH. " + TestServers.SetupHint);
        var folder = new ServerFolder("redispw");
        var port = TestServers.FreePort();
        return new ChildServer(folder, redis,
        [
            "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--requirepass", password,
            "--dir", folder.Path, "--save", "", "--appendonly", "no", "--loglevel", "warning",
        ], port);
    }

    /// <summary>PgBouncer in transaction pooling mode in front of the test PostgreSQL, as a non-root user.</summary>
    public static ChildServer StartPgBouncer(int poolSize)
    {
        var pgbouncer = TestServers.FindOnPath("pgbouncer") ?? throw new InvalidOperationException("pgbouncer was not found (/usr/sbin/pgbouncer). " + TestServers.SetupHint);
        var target = new NpgsqlConnectionStringBuilder(TestServers.Instance.PostgresAdminConnectionString);
        var folder = new ServerFolder("pgbouncer");
        var port = TestServers.FreePort();
        var ini = Path.Combine(folder.Path, "pgbouncer.ini");
        File.WriteAllText(Path.Combine(folder.Path, "userlist.txt"), $"\"{target.Username}\" \"\"\n");
        File.WriteAllText(ini, $"""
            [databases]
            * = host={target.Host} port={target.Port}

            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            unix_socket_dir =
            auth_type = trust
            auth_file = {Path.Combine(folder.Path, "userlist.txt")}
            pool_mode = transaction
            default_pool_size = {poolSize}
            max_client_conn = 200
            ignore_startup_parameters = extra_float_digits,options,search_path
            logfile = {Path.Combine(folder.Path, "pgbouncer.log")}
            """);
        folder.HandToPostgresUser();
        return TestServers.IsRoot
            ? new ChildServer(folder, "runuser", ["-u", "postgres", "--", pgbouncer, ini], port)
            : new ChildServer(folder, pgbouncer, [ini], port);
    }
}

/// <summary>Collects every log line (message, state values and exception text) for secret scans.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class CapturingLogger(CapturingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            provider.Lines.Enqueue($"{category} scope: {state}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(", ", pairs.Select(p => $"{p.Key}={p.Value}")) : string.Empty;
            provider.Lines.Enqueue($"{logLevel} {category} [{eventId.Id}] {formatter(state, exception)} | {values} | {exception}");
        }
    }
}
