using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Core.Resilience;

/// <summary>
/// What a service needs to reach the archive's Redis data: the connection, the key layout, and the <c>nexus-redis</c>
/// pipeline every call goes through. One parameter instead of three for the operations that read and write Redis.
/// </summary>
internal sealed record RedisAccess(IConnectionMultiplexer Connection, RedisLayout Layout, RedisCalls Calls);

/// <summary>
/// What a service needs to reach the archive in PostgreSQL: the data source, the schema names, and the
/// <c>nexus-postgres</c> pipeline every call goes through. One parameter instead of three.
/// </summary>
internal sealed record PostgresAccess(NpgsqlDataSource DataSource, SchemaNames Schemas, PostgresCalls Calls);
