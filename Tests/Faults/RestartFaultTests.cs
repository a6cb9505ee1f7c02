using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NexusArchive.Core.Archiving;
using NexusArchive.Tests.Infrastructure;
using Xunit.Abstractions;

namespace NexusArchive.Tests.Faults;

/// <summary>
/// Faults 4 and 5: the PostgreSQL server (<c>pg_ctl -m fast restart</c>) and the Redis server (<c>SHUTDOWN</c>, then
/// started again on its AOF) restarted mid-pass. Each test restarts a private server of its own — the shared
/// <see cref="TestServers"/> ones serve other tests in parallel. The Polly pipelines retry through the outage (or, if
/// the breaker opened, a follow-up pass finishes the job) and the archive equals the source.
/// </summary>
public sealed class RestartFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Archive_PostgresRestartedMidPass_FinishesAndEqualsSource()
    {
        var clock = Stopwatch.StartNew();
        using var postgres = PrivatePostgres.Start();
        await using var harness = await ArchiveHarness.CreateAsync(s =>
        {
            FaultKit.FaultSettings(s, pageSize: 20);
            s["ConnectionStrings:Postgres"] = postgres.ConnectionString;
        });
        await FaultKit.SeedAsync(harness, messages: 3000);

        var pass = harness.RunAsync();
        var restarts = 0;
        foreach (var target in new[] { 300L, 1500L })
        {
            if (!await WaitForMessagesAsync(harness, postgres.ConnectionString, target, pass))
            {
                break;
            }

            await Task.Run(postgres.Restart);
            restarts++;
        }

        var run = await pass;
        output.WriteLine($"faulted pass: {run.Status} {run.Error}");
        if (run.Status != RunStatus.Succeeded)
        {
            run = await FaultKit.FinishAsync(harness, TimeSpan.FromSeconds(20)); // the breaker opened: later passes finish
            output.WriteLine($"follow-up pass: {run.Status} {run.Error}");
        }

        Assert.Equal(RunStatus.Succeeded, run.Status);
        harness.DataSource.Clear(); // pooled connections from before the last restart are dead
        var report = await ArchiveComparison.CompareAsync(harness);
        output.WriteLine(FaultKit.Summary("postgres-restart", scenarios: 1, faults: restarts, report, clock.Elapsed));
        ArchiveComparison.AssertEqual(report);
        Assert.True(restarts >= 1, "the pass finished before PostgreSQL could be restarted mid-pass");
    }

    [Fact]
    public async Task Archive_RedisRestartedMidPass_FinishesAndEqualsSource()
    {
        var clock = Stopwatch.StartNew();
        using var redis = PrivateRedis.Start();
        await using var harness = await ArchiveHarness.CreateAsync(s =>
        {
            FaultKit.FaultSettings(s, pageSize: 20);
            s["ConnectionStrings:Redis"] = redis.ConnectionString;
        });
        await FaultKit.SeedAsync(harness, messages: 3000);

        var pass = harness.RunAsync();
        var restarts = 0;
        foreach (var target in new[] { 300L, 1500L })
        {
            if (!await WaitForMessagesAsync(harness, TestServers.Instance.PostgresAdminConnectionString, target, pass))
            {
                break;
            }

            await redis.RestartAsync();
            restarts++;
        }

        var run = await pass;
        output.WriteLine($"faulted pass: {run.Status} {run.Error}");
        if (run.Status != RunStatus.Succeeded)
        {
            run = await FaultKit.FinishAsync(harness, TimeSpan.FromSeconds(20));
            output.WriteLine($"follow-up pass: {run.Status} {run.Error}");
        }

        Assert.Equal(RunStatus.Succeeded, run.Status);
        var report = await ArchiveComparison.CompareAsync(harness);
        output.WriteLine(FaultKit.Summary("redis-restart", scenarios: 1, faults: restarts, report, clock.Elapsed));
        ArchiveComparison.AssertEqual(report);
        Assert.True(restarts >= 1, "the pass finished before Redis could be restarted mid-pass");
    }

    /// <summary>Polls the archived message count (on a fresh, unpooled connection) until it reaches <paramref name="target"/>; false if the pass ended first.</summary>
    private static async Task<bool> WaitForMessagesAsync(ArchiveHarness harness, string connectionString, long target, Task pass)
    {
        var unpooled = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;
        var waited = Stopwatch.StartNew();
        while (!pass.IsCompleted && waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            try
            {
                await using var connection = new NpgsqlConnection(unpooled);
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand($"SELECT count(*) FROM {harness.TargetSchema}.messages", connection);
                if (Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture) >= target)
                {
                    return !pass.IsCompleted;
                }
            }
            catch (NpgsqlException)
            {
                // the server is still coming back from the previous restart
            }

            await Task.Delay(20);
        }

        return false;
    }

    /// <summary>A PostgreSQL instance of one test (initdb into a temp folder, as <c>postgres</c> when running as root).</summary>
    private sealed class PrivatePostgres : IDisposable
    {
        private readonly string _bin;
        private readonly string _root;
        private readonly string _data;
        private readonly string _options;
        private readonly bool _asRoot = TestServers.IsRoot;

        private PrivatePostgres(string bin, int port)
        {
            _bin = bin;
            _root = Path.Combine(Path.GetTempPath(), $"nexus-restart-pg-{Guid.NewGuid():N}");
            _data = Path.Combine(_root, "data");
            _options = $"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={_root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100";
            ConnectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Include Error Detail=true;Maximum Pool Size=20";
        }

        public string ConnectionString { get; }

        public static PrivatePostgres Start()
        {
            var bin = TestServers.FindPostgresBin() ?? throw new InvalidOperationException("PostgreSQL server binaries were not found. " + TestServers.SetupHint);
            var postgres = new PrivatePostgres(bin, TestServers.FreePort());
            try
            {
                Directory.CreateDirectory(postgres._root);
                if (postgres._asRoot)
                {
                    TestServers.Run("chown", ["-R", "postgres:postgres", postgres._root]);
                }

                postgres.PgCtl(Path.Combine(bin, "initdb"), ["-D", postgres._data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
                postgres.PgCtl(Path.Combine(bin, "pg_ctl"), postgres.ServerArgs("start"));
                return postgres;
            }
            catch
            {
                postgres.Dispose();
                throw;
            }
        }

        /// <summary><c>pg_ctl -m fast restart</c>: in-flight transactions are aborted, connections dropped, the server comes back on the same port.</summary>
        public void Restart() => PgCtl(Path.Combine(_bin, "pg_ctl"), ["-m", "fast", .. ServerArgs("restart")]);

        public void Dispose()
        {
            TestServers.RunAs(_asRoot, Path.Combine(_bin, "pg_ctl"), ["-D", _data, "-m", "immediate", "stop"], throwOnError: false);
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (IOException)
            {
                // best effort: a temp folder
            }
        }

        // -l: the server must not inherit pg_ctl's redirected stdout, or reading it would wait for the server to exit.
        private string[] ServerArgs(string action) => ["-D", _data, "-l", Path.Combine(_root, "postgres.log"), "-w", "-t", "30", "-o", _options, action];

        private void PgCtl(string file, IReadOnlyList<string> args) => TestServers.RunAs(_asRoot, file, args);
    }

    /// <summary>A redis-server of one test, persisting to an append-only file so its data survives a restart.</summary>
    private sealed class PrivateRedis : IDisposable
    {
        private readonly string _directory = Path.Combine(Path.GetTempPath(), $"nexus-restart-redis-{Guid.NewGuid():N}");
        private readonly int _port = TestServers.FreePort();
        private Process? _process;

        public string ConnectionString => $"127.0.0.1:{_port},abortConnect=false,connectTimeout=2000";

        public static PrivateRedis Start()
        {
            var redis = new PrivateRedis();
            try
            {
                Directory.CreateDirectory(redis._directory);
                redis.Launch();
                return redis;
            }
            catch
            {
                redis.Dispose();
                throw;
            }
        }

        /// <summary><c>redis-cli shutdown</c> (the AOF is fsynced), then the same server again on the same port and folder.</summary>
        public async Task RestartAsync()
        {
            TestServers.Run("redis-cli", ["-p", Port, "shutdown"], throwOnError: false);
            using (var exited = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            {
                await _process!.WaitForExitAsync(exited.Token);
            }

            _process.Dispose();
            Launch();
        }

        public void Dispose()
        {
            if (_process is { HasExited: false })
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }

            _process?.Dispose();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // best effort: a temp folder
            }
        }

        private string Port => _port.ToString(CultureInfo.InvariantCulture);

        private void Launch()
        {
            var server = TestServers.FindOnPath("redis-server") ?? throw new InvalidOperationException("redis-server was not found on PATH. " + TestServers.SetupHint);
            var info = new ProcessStartInfo(server) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in (string[])["--port", Port, "--bind", "127.0.0.1", "--dir", _directory, "--save", "", "--appendonly", "yes", "--daemonize", "no", "--loglevel", "warning"])
            {
                info.ArgumentList.Add(arg);
            }

            _process = Process.Start(info)!;
            _process.OutputDataReceived += (_, _) => { };
            _process.ErrorDataReceived += (_, _) => { };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();

            var waited = Stopwatch.StartNew();
            while (TestServers.Run("redis-cli", ["-p", Port, "ping"], throwOnError: false).Trim() != "PONG")
            {
                if (_process.HasExited || waited.Elapsed > TimeSpan.FromSeconds(15))
                {
                    throw new InvalidOperationException($"redis-server on port {Port} did not become ready. " + TestServers.SetupHint);
                }

                Thread.Sleep(50);
            }
        }
    }
}
