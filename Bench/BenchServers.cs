using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NexusArchive.Core;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Bench;

/// <summary>
/// The Redis database and PostgreSQL database under test, and NexusArchive's registration pointed at them: the
/// settings every pass uses (in this process or as the CLI), a cold service provider per step or one warm provider
/// kept for the whole run, and a reset that wipes both servers between measurements.
/// </summary>
internal sealed class BenchServers(BenchArguments arguments, string redisConnection, string postgresAdmin)
{
    private ServiceProvider? _warm;
    private IReadOnlyDictionary<string, long>? _readingCost;

    public BenchArguments Arguments => arguments;

    /// <summary>The benchmark database (not the admin connection's own).</summary>
    public string Postgres { get; } = new NpgsqlConnectionStringBuilder(postgresAdmin) { Database = arguments.Database, MaxPoolSize = 20 }.ConnectionString;

    /// <summary>The archiver's page size: <c>--page-size</c>, or <see cref="ArchiveOptions.PageSize"/>'s default.</summary>
    public int PageSize => arguments.PageSize > 0 ? arguments.PageSize : new ArchiveOptions().PageSize;

    /// <summary>One long-lived archiver in this process, as a Functions worker keeps it between timer ticks.</summary>
    public ServiceProvider Warm => _warm ??= Services();

    public Dictionary<string, string?> Settings(int? pageSize = null, string settleWindow = "00:00:00") => new()
    {
        ["ConnectionStrings:Redis"] = redisConnection,
        ["ConnectionStrings:Postgres"] = Postgres,
        ["Archive:KeyPrefix"] = "bench",
        ["Archive:SettleWindow"] = settleWindow,
        ["Archive:TimeBudget"] = "01:00:00",
        ["Archive:PageSize"] = (pageSize ?? (arguments.PageSize > 0 ? arguments.PageSize : null))?.ToString(CultureInfo.InvariantCulture),
    };

    public ServiceProvider Services(int? pageSize = null, string settleWindow = "00:00:00")
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings(pageSize, settleWindow).Where(s => s.Value is not null)).Build();
        var services = new ServiceCollection();
        // The benchmark connects as the superuser: the safety check's least-privilege warning would repeat every pass.
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning).AddFilter("NexusArchive.Core.Security", LogLevel.Error).AddSimpleConsole());
        services.AddNexusArchive(configuration);
        return services.BuildServiceProvider();
    }

    public async Task DisposeWarmAsync()
    {
        if (_warm is not null)
        {
            await _warm.DisposeAsync();
        }
    }

    /// <summary>Drops and re-creates the benchmark database (migrated), empties the Redis database and waits until Redis is idle.</summary>
    public async Task ResetAsync()
    {
        await ResetArchiveAsync();
        await using var mux = await ConnectionMultiplexer.ConnectAsync(redisConnection + ",allowAdmin=true");
        // ASYNC: freeing millions of keys must not block Redis (or time out this client).
        var database = mux.GetDatabase(arguments.RedisDatabase);
        await database.ExecuteAsync("FLUSHDB", "ASYNC");

        // Wait until Redis has actually freed them and handed the memory back: after a 5×N run that takes minutes of a
        // whole core, which the next measurements would otherwise pay for.
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromMinutes(5))
        {
            var memory = (string)(await database.ExecuteAsync("INFO", "memory"))!;
            var pending = memory.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("lazyfree_pending_objects:", StringComparison.Ordinal));
            if (pending is null || pending.EndsWith(":0", StringComparison.Ordinal))
            {
                break;
            }

            await Task.Delay(200);
        }

        await database.ExecuteAsync("MEMORY", "PURGE");
        while (waited.Elapsed < TimeSpan.FromMinutes(5))
        {
            var before = CpuSample.Take();
            await Task.Delay(1000);
            if ((CpuSample.Take() - before).Redis < 0.05)
            {
                break; // Redis idle: the kernel has taken the memory back
            }
        }
    }

    /// <summary>
    /// Drops and re-creates the benchmark database (migrated) and leaves Redis as it is: the next pass is an initial load
    /// of what Redis holds (its checkpoints live in the database; the Redis mirror of a checkpoint only informs readers).
    /// </summary>
    public async Task ResetArchiveAsync()
    {
        // Pooled connections to the dropped database would fail on their next use.
        NpgsqlConnection.ClearAllPools();
        await using (var admin = new NpgsqlConnection(postgresAdmin))
        {
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{arguments.Database}\" WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{arguments.Database}\"", admin);
            await create.ExecuteNonQueryAsync();
        }

        await using var services = Services();
        await services.GetRequiredService<Migrator>().MigrateAsync(CancellationToken.None);
    }

    /// <summary>The Redis server's host and port (the first endpoint of the benchmark's connection string).</summary>
    public (string Host, int Port) RedisEndpoint()
    {
        var endpoint = ConfigurationOptions.Parse(redisConnection).EndPoints[0];
        return endpoint switch
        {
            System.Net.DnsEndPoint dns => (dns.Host, dns.Port),
            System.Net.IPEndPoint ip => (ip.Address.ToString(), ip.Port),
            _ => throw new InvalidOperationException($"unsupported Redis endpoint {endpoint}"),
        };
    }

    /// <summary>The benchmark's Redis connection string with its endpoint replaced by 127.0.0.1:<paramref name="port"/> (a proxy).</summary>
    public string RedisVia(int port)
    {
        var options = ConfigurationOptions.Parse(redisConnection);
        options.EndPoints.Clear();
        options.EndPoints.Add("127.0.0.1", port);
        return options.ToString(includePassword: true);
    }

    /// <summary>The benchmark database's connection string through 127.0.0.1:<paramref name="port"/> (a proxy or a pooler).</summary>
    public string PostgresVia(int port, Action<NpgsqlConnectionStringBuilder>? change = null)
    {
        var builder = new NpgsqlConnectionStringBuilder(Postgres) { Host = "127.0.0.1", Port = port };
        change?.Invoke(builder);
        return builder.ConnectionString;
    }

    /// <summary>The admin connection string (the PostgreSQL server the benchmark database lives on).</summary>
    public NpgsqlConnectionStringBuilder PostgresAdmin => new(postgresAdmin);

    /// <summary>
    /// A <see cref="RedisCommandCallsAsync"/> reading to pass to <see cref="RedisCommandsSinceAsync"/> later. The first
    /// call also measures what taking two readings costs by itself (their connection handshake and <c>INFO</c>), back to
    /// back, so that it can be taken off every difference.
    /// </summary>
    public async Task<Dictionary<string, long>> BeginRedisCommandsAsync()
    {
        if (_readingCost is null)
        {
            var first = await RedisCommandCallsAsync();
            _readingCost = RedisCommands.Between(first, await RedisCommandCallsAsync(), null).Calls;
        }

        return await RedisCommandCallsAsync();
    }

    /// <summary>The Redis commands run since <paramref name="before"/> (from <see cref="BeginRedisCommandsAsync"/>), less the readings' own.</summary>
    public async Task<RedisCommands> RedisCommandsSinceAsync(Dictionary<string, long> before) =>
        RedisCommands.Between(before, await RedisCommandCallsAsync(), _readingCost ?? throw new InvalidOperationException("Call BeginRedisCommandsAsync first."));

    /// <summary>
    /// Calls per Redis command since the server started (<c>INFO commandstats</c>); the difference of two readings is what
    /// ran in between, plus the first reading's own <c>INFO</c>.
    /// </summary>
    public async Task<Dictionary<string, long>> RedisCommandCallsAsync()
    {
        await using var mux = await ConnectionMultiplexer.ConnectAsync(redisConnection + ",allowAdmin=true");
        var stats = (string)(await mux.GetDatabase(arguments.RedisDatabase).ExecuteAsync("INFO", "commandstats"))!;
        var calls = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in stats.Split('\n', StringSplitOptions.TrimEntries))
        {
            // cmdstat_evalsha:calls=12,usec=340,...
            if (line.StartsWith("cmdstat_", StringComparison.Ordinal) && line.IndexOf(':', StringComparison.Ordinal) is > 0 and var colon)
            {
                var count = line[(colon + 1)..].Split(',').First(p => p.StartsWith("calls=", StringComparison.Ordinal))["calls=".Length..];
                calls[line["cmdstat_".Length..colon]] = long.Parse(count, CultureInfo.InvariantCulture);
            }
        }

        return calls;
    }

    /// <summary>Redis-now in epoch milliseconds.</summary>
    public async Task<long> RedisNowMsAsync()
    {
        await using var services = Services();
        return (await services.GetRequiredService<IChangeSource>().GetServerTimeAsync(CancellationToken.None)).ToUnixTimeMilliseconds();
    }

    /// <summary>One row of <see cref="BenchData.MessageRow"/> into a binary COPY.</summary>
    public static async Task WriteRowAsync(NpgsqlBinaryImporter importer, object?[] row)
    {
        await importer.StartRowAsync();
        for (var c = 0; c < row.Length; c++)
        {
            if (row[c] is null)
            {
                await importer.WriteNullAsync();
            }
            else
            {
                await importer.WriteAsync(row[c]!, BenchData.MessageTypes[c]);
            }
        }
    }

    /// <summary>Runs SQL without a command timeout.</summary>
    public static async Task ExecAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.CommandTimeout = 0;
        await command.ExecuteNonQueryAsync();
    }
}
