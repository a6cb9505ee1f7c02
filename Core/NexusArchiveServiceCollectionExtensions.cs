using System.Reflection;
using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Admin;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Backfill;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Cost;
using NexusArchive.Core.DeadLetters;
using NexusArchive.Core.Demo;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Offload;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Restore;
using NexusArchive.Core.Scaling;
using NexusArchive.Core.Security;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using NexusArchive.Core.Verification;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Core;

/// <summary>The one registration of NexusArchive's Core, shared by the Functions app and the CLI.</summary>
public static class NexusArchiveServiceCollectionExtensions
{
    /// <summary>
    /// Registers the archive pipeline: options (validated at start-up), a singleton <see cref="IConnectionMultiplexer"/>
    /// (<c>AbortOnConnectFail=false</c>), a singleton <see cref="NpgsqlDataSource"/>, the source, mapper, sink and services.
    /// Connection strings come from <c>ConnectionStrings:Redis</c> and <c>ConnectionStrings:Postgres</c>; everything else
    /// from the <c>Archive</c> section.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The configuration root holding <c>ConnectionStrings</c> and <c>Archive</c>.</param>
    public static IServiceCollection AddNexusArchive(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        services.AddOptions<ArchiveOptions>()
            .Bind(configuration.GetSection(ArchiveOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ArchiveOptions>, ArchiveOptionsValidator>());

        // Archive:Security is its own options type, like Archive:Resilience.
        services.AddOptions<SecurityOptions>()
            .Bind(configuration.GetSection(SecurityOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SecurityOptions>, SecurityOptionsValidator>());
        services.AddOptions<OffloadOptions>()
            .Bind(configuration.GetSection(OffloadOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OffloadOptions>, OffloadOptionsValidator>());
        services.AddOptions<CostOptions>()
            .Bind(configuration.GetSection(CostOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CostOptions>, CostOptionsValidator>());

        services.AddOptions<ConnectionOptions>()
            .Configure(o =>
            {
                o.Redis = configuration.GetConnectionString(ConnectionStringNames.Redis);
                o.Postgres = configuration.GetConnectionString(ConnectionStringNames.Postgres);
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConnectionOptions>, ConnectionOptionsValidator>());

        services.TryAddSingleton(sp => new DependencyEndpoints(sp.GetRequiredService<IOptions<ConnectionOptions>>().Value));
        services.TryAddSingleton(TimeProvider.System);

        // The archived entities (a test replaces the catalog with one that holds an entity of its own).
        services.TryAddSingleton(EntityCatalog.Default);
        services.AddMetrics();
        services.TryAddSingleton<ArchiveMetrics>();

        services.TryAddSingleton<IConnectionMultiplexer>(sp =>
        {
            var connection = sp.GetRequiredService<IOptions<ConnectionOptions>>().Value;
            var redis = RedisConnectionString.Parse(connection.Redis!);
            if (sp.GetRequiredService<IOptions<SecurityOptions>>().Value.RedisTrustedCertificatePath is { Length: > 0 } trusted)
            {
                redis.TrustIssuer(trusted);
            }

            return ConnectionMultiplexer.Connect(redis);
        });
        services.TryAddSingleton(sp =>
        {
            var connection = sp.GetRequiredService<IOptions<ConnectionOptions>>().Value;
            var builder = new NpgsqlDataSourceBuilder(connection.Postgres);
            builder.UseLoggerFactory(sp.GetService<Microsoft.Extensions.Logging.ILoggerFactory>());
            if (sp.GetRequiredService<IOptions<ArchiveOptions>>().Value.PostgresUseManagedIdentity)
            {
                builder.UseEntraTokenPassword(sp.GetService<TokenCredential>() ?? new DefaultAzureCredential());
            }

            return builder.Build();
        });

        services.TryAddSingleton(sp => new RedisLayout(sp.GetRequiredService<IOptions<ArchiveOptions>>().Value.KeyPrefix));
        services.TryAddSingleton<SchemaNames>();
        services.TryAddSingleton<RecordWriter>();
        services.TryAddSingleton<RecordMapper>();

        // The pass sees the Redis source and PostgreSQL sink through the nexus-redis / nexus-postgres Polly pipelines.
        services.AddNexusResilience(configuration);
        services.TryAddSingleton<PostgresCalls>();
        services.TryAddSingleton<RedisCalls>();
        services.TryAddSingleton<RedisCommandMeter>();
        services.TryAddSingleton<RedisChangeSource>();
        services.TryAddSingleton<CheckpointStore>();
        services.TryAddSingleton<DeadLetterStore>();
        services.TryAddSingleton<RunHistory>();
        services.TryAddSingleton<VerificationHistory>();
        services.TryAddSingleton<PageWriter>();
        services.TryAddSingleton<PostgresArchiveSink>();
        services.TryAddSingleton<IChangeSource>(sp => ActivatorUtilities.CreateInstance<ResilientChangeSource>(sp, sp.GetRequiredService<RedisChangeSource>()));
        services.TryAddSingleton<IArchiveSink>(sp => ActivatorUtilities.CreateInstance<ResilientArchiveSink>(sp, sp.GetRequiredService<PostgresArchiveSink>()));
        services.TryAddSingleton<RecordKeyScanner>();
        services.TryAddSingleton<PendingRecords>();
        services.TryAddSingleton<RedisAccess>();
        services.TryAddSingleton<PostgresAccess>();
        services.TryAddSingleton<ArchivedRowCounter>();
        services.TryAddSingleton<ArchiveTableSizes>();
        services.TryAddSingleton<ChangeIndexFootprint>();
        AddWithInternalConstructor<CostService>(services);
        AddWithInternalConstructor<ReshardService>(services);
        AddWithInternalConstructor<DeadLetterService>(services);
        AddWithInternalConstructor<Migrator>(services);
        services.TryAddSingleton<ArchiveSafetyCheck>();
        services.TryAddSingleton<IArchiveSafetyCheck>(sp => sp.GetRequiredService<ArchiveSafetyCheck>());
        AddWithInternalConstructor<ArchiveService>(services);
        AddWithInternalConstructor<ShardFanOut>(services);
        AddWithInternalConstructor<ArchiveRecordsService>(services);
        AddWithInternalConstructor<RecordEventProcessor>(services);
        AddWithInternalConstructor<StatusService>(services);
        AddWithInternalConstructor<DemoDataSeeder>(services);
        services.TryAddSingleton<RecordChecker>();
        services.TryAddSingleton<VerificationRecorder>();
        AddWithInternalConstructor<VerifyService>(services);
        AddWithInternalConstructor<IncrementalVerifyService>(services);
        AddWithInternalConstructor<RestoreService>(services);
        AddWithInternalConstructor<BackfillService>(services);
        services.TryAddSingleton<OffloadLedger>();
        services.TryAddSingleton<AdminAudit>();
        AddWithInternalConstructor<ExportService>(services);
        AddWithInternalConstructor<EraseService>(services);
        AddWithInternalConstructor<OffloadService>(services);
        return services;
    }

    /// <summary>
    /// Registers a public service whose constructor is internal because it takes Core's internal types (stores, writer,
    /// layout, …): the container only calls public constructors, so its single non-public one is called here with every
    /// parameter resolved.
    /// </summary>
    private static void AddWithInternalConstructor<TService>(IServiceCollection services)
        where TService : class =>
        services.TryAddSingleton(sp =>
        {
            var constructor = typeof(TService).GetConstructors(BindingFlags.Instance | BindingFlags.NonPublic).Single();
            return (TService)constructor.Invoke([.. constructor.GetParameters().Select(p => sp.GetRequiredService(p.ParameterType))]);
        });
}
