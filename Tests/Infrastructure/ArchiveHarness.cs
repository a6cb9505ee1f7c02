using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NexusArchive.Core;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Security;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Tests.Infrastructure;

/// <summary>
/// One isolated archive for one test: the real Core registration against the shared test servers, with a unique
/// Redis key prefix and unique PostgreSQL schemas, so tests run in parallel without seeing each other.
/// </summary>
public sealed class ArchiveHarness : IAsyncDisposable
{
    private static int s_counter;
    private readonly ServiceProvider _services;

    private ArchiveHarness(ServiceProvider services, string prefix, string target, string bookkeeping, IReadOnlyDictionary<string, string?> settings)
    {
        _services = services;
        Prefix = prefix;
        TargetSchema = target;
        BookkeepingSchema = bookkeeping;
        Settings = settings;
    }

    public IServiceProvider Services => _services;

    public string Prefix { get; }

    public string TargetSchema { get; }

    public string BookkeepingSchema { get; }

    /// <summary>The configuration the harness was built from (to start a CLI child process with the same settings).</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; }

    public IDatabase Redis => _services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();

    public NpgsqlDataSource DataSource => _services.GetRequiredService<NpgsqlDataSource>();

    internal RedisLayout Layout => _services.GetRequiredService<RedisLayout>();

    public ArchiveService Archive => _services.GetRequiredService<ArchiveService>();

    internal RecordWriter Writer => _services.GetRequiredService<RecordWriter>();

    /// <summary>Builds a harness; <paramref name="configure"/> may override any setting (e.g. <c>Archive:PageSize</c>).</summary>
    public static async Task<ArchiveHarness> CreateAsync(
        Action<Dictionary<string, string?>>? configure = null,
        bool migrate = true,
        Action<IServiceCollection>? services = null)
    {
        var servers = TestServers.Instance;
        var n = Interlocked.Increment(ref s_counter);
        var unique = $"{Environment.ProcessId}_{n}";
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = servers.RedisConnectionString,
            ["ConnectionStrings:Postgres"] = servers.PostgresAdminConnectionString,
            ["Archive:KeyPrefix"] = $"t{unique}",
            ["Archive:TargetSchema"] = $"arc_{unique}",
            ["Archive:BookkeepingSchema"] = $"bk_{unique}",
            ["Archive:SettleWindow"] = "00:00:01",
            ["Archive:LookbackOverlap"] = "00:00:30",
            ["Archive:PageSize"] = "500",
        };
        configure?.Invoke(settings);

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var collection = new ServiceCollection();
        collection.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        collection.AddNexusArchive(configuration);
        services?.Invoke(collection);
        var provider = collection.BuildServiceProvider(validateScopes: true);
        var harness = new ArchiveHarness(provider, settings["Archive:KeyPrefix"]!, settings["Archive:TargetSchema"]!, settings["Archive:BookkeepingSchema"]!, settings);
        if (migrate)
        {
            await provider.GetRequiredService<Migrator>().MigrateAsync(CancellationToken.None);
        }

        return harness;
    }

    /// <summary>
    /// A second harness on the same archive (same key prefix and schemas, no migration) that reaches PostgreSQL through
    /// another connection string: another role, TLS, a pooler.
    /// </summary>
    public Task<ArchiveHarness> SameArchiveAsync(string postgresConnectionString) =>
        CreateAsync(
            s =>
            {
                foreach (var (key, value) in Settings)
                {
                    s[key] = value;
                }

                s["ConnectionStrings:Postgres"] = postgresConnectionString;
            },
            migrate: false);

    /// <summary>The registered <see cref="ArchiveService"/>'s parts, with its own clock (the pipelines keep the real one).</summary>
    public static ArchiveService ArchiveServiceWithClock(IServiceProvider services, TimeProvider clock) => new(
        services.GetRequiredService<EntityCatalog>(),
        services.GetRequiredService<IChangeSource>(),
        services.GetRequiredService<IArchiveSink>(),
        services.GetRequiredService<IArchiveSafetyCheck>(),
        services.GetRequiredService<RecordMapper>(),
        services.GetRequiredService<IOptions<ArchiveOptions>>(),
        clock,
        services.GetRequiredService<ArchiveMetrics>(),
        services.GetRequiredService<RedisCommandMeter>(),
        services.GetRequiredService<ILogger<ArchiveService>>());

    /// <summary>Redis-now in epoch milliseconds.</summary>
    public async Task<long> RedisNowMsAsync() =>
        (await _services.GetRequiredService<IChangeSource>().GetServerTimeAsync(CancellationToken.None)).ToUnixTimeMilliseconds();

    /// <summary>Writes one record through the Lua writer with an explicit updatedAt.</summary>
    internal Task<WriteResult> WriteAsync(EntityDescriptor entity, string id, long updatedAtMs, params (string Field, string Value)[] fields) =>
        Writer.WriteAsync(Redis, entity, id, fields.Select(f => new KeyValuePair<string, RedisValue>(f.Field, f.Value)), updatedAtMs);

    /// <summary>Writes a valid message with defaults for every required field.</summary>
    internal Task<WriteResult> WriteMessageAsync(string id, long updatedAtMs, string content = "hello", string session = "s-1", string user = "u-1", params (string Field, string Value)[] extra) =>
        WriteAsync(EntityCatalog.Message, id, updatedAtMs,
            [("sessionId", session), ("userId", user), ("role", "user"), ("content", content), ("createdAt", updatedAtMs.ToString(CultureInfo.InvariantCulture)), .. extra]);

    /// <summary>
    /// The one way tests seed many records through the Lua writer: <paramref name="queue"/> queues writes on one batch,
    /// the batch goes out pipelined (one round trip for thousands of writes), and this returns when every write is done.
    /// </summary>
    internal async Task WritePipelinedAsync(Func<IBatch, IEnumerable<Task>> queue)
    {
        var batch = Redis.CreateBatch();
        var writes = queue(batch).ToList();
        batch.Execute();
        await Task.WhenAll(writes);
    }

    /// <summary>
    /// Writes <paramref name="count"/> valid messages of one session through the Lua writer, pipelined: message i has id
    /// <paramref name="id"/>(i), role <paramref name="role"/>(i) (default <c>user</c>), content <paramref name="content"/>(i)
    /// (none when null), and createdAt = updatedAt = <paramref name="firstAtMs"/> + i × <paramref name="stepMs"/>.
    /// </summary>
    internal Task WriteMessagesAsync(
        int count, Func<int, string> id, long firstAtMs, long stepMs = 0, string session = "s-1", Func<int, string>? role = null, Func<int, string>? content = null) =>
        WritePipelinedAsync(batch => Enumerable.Range(0, count).Select(i =>
        {
            var at = firstAtMs + (i * stepMs);
            KeyValuePair<string, RedisValue>[] fields = content is null
                ? [new("sessionId", session), new("userId", "u-1"), new("role", role?.Invoke(i) ?? "user"), new("createdAt", at.ToString(CultureInfo.InvariantCulture))]
                : [new("sessionId", session), new("userId", "u-1"), new("role", role?.Invoke(i) ?? "user"), new("content", content(i)), new("createdAt", at.ToString(CultureInfo.InvariantCulture))];
            return (Task)Writer.WriteAsync(batch, EntityCatalog.Message, id(i), fields, at);
        }));

    /// <summary>
    /// Writes a record the way a client writing around the Lua writer does (and as records from before the writer checked
    /// writes look): the hash with <c>id</c> and <c>updatedAt</c>, its index entry and the write counter, checked by
    /// nothing. For tests of what the archive does with bad records that the writer would refuse.
    /// </summary>
    public async Task WriteUncheckedAsync(EntityDescriptor entity, string id, long updatedAtMs, params (string Field, string Value)[] fields)
    {
        var transaction = Redis.CreateTransaction();
        _ = transaction.HashSetAsync(Layout.RecordKey(entity, id),
            [.. fields.Select(f => new HashEntry(f.Field, f.Value)), new("id", id), new("updatedAt", updatedAtMs.ToString(CultureInfo.InvariantCulture))]);
        _ = transaction.SortedSetAddAsync(Layout.ChangeIndexKey(entity), id, updatedAtMs);
        _ = transaction.StringIncrementAsync(Layout.WriteCounterKey(entity));
        Assert.True(await transaction.ExecuteAsync());
    }

    /// <summary><see cref="WriteMessageAsync"/> around the writer: defaults for every required field, then <paramref name="extra"/> (the last value wins).</summary>
    public Task WriteMessageUncheckedAsync(string id, long updatedAtMs, params (string Field, string Value)[] extra) =>
        WriteUncheckedAsync(EntityCatalog.Message, id, updatedAtMs,
            [("sessionId", "s-1"), ("userId", "u-1"), ("role", "user"), ("content", "hello"), ("createdAt", updatedAtMs.ToString(CultureInfo.InvariantCulture)), .. extra]);

    public Task<ArchiveRunResult> RunAsync(params string[] entities) =>
        Archive.RunAsync(new ArchiveRunRequest("test", entities), CancellationToken.None);

    /// <summary>Runs SQL with <c>{t}</c> = target schema and <c>{b}</c> = bookkeeping schema; returns rows as dictionaries.</summary>
    public async Task<List<Dictionary<string, object?>>> QueryAsync(string sql, params object[] parameters)
    {
        await using var command = DataSource.CreateCommand(Schemas(sql));
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<Dictionary<string, object?>>();
        while (await reader.ReadAsync())
        {
            var row = new Dictionary<string, object?>();
            for (var i = 0; i < reader.FieldCount; i++)
            {
                row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    public async Task<long> ScalarAsync(string sql, params object[] parameters) =>
        Convert.ToInt64((await QueryAsync(sql, parameters))[0].Values.First(), CultureInfo.InvariantCulture);

    public Task<long> CountAsync(string table) => ScalarAsync($"SELECT count(*) FROM {{t}}.{table}");

    public string Schemas(string sql) => sql.Replace("{t}", TargetSchema, StringComparison.Ordinal).Replace("{b}", BookkeepingSchema, StringComparison.Ordinal);

    public async ValueTask DisposeAsync() => await _services.DisposeAsync();
}
