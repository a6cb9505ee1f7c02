using NexusArchive.Core.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Moq;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;
using Polly.Registry;
using StackExchange.Redis;

namespace NexusArchive.Tests.Unit;

public sealed class ResilienceTests
{
    private static readonly PageWriteResult s_ok = new(1, 0, 0);

    private static readonly DependencyEndpoints Endpoints = new(new ConnectionOptions { Redis = "127.0.0.1:6390", Postgres = "Host=127.0.0.1;Port=5442;Database=nexus" });

    [Fact]
    public async Task WritePage_TransientNpgsqlFailures_RetriesWholePageUntilItCommits()
    {
        var inner = new Mock<IArchiveSink>();
        inner.SetupSequence(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new NpgsqlException("connection broken", new IOException("reset")))
            .ThrowsAsync(new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", PostgresErrorCodes.AdminShutdown))
            .ReturnsAsync(s_ok);
        var sut = CreateSut(inner.Object);

        Assert.Equal(s_ok, await Call(sut));
        inner.Verify(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>()), Times.Exactly(3));
    }

    [Theory]
    [InlineData("22P02")] // invalid_text_representation
    [InlineData("23505")] // unique_violation
    public async Task WritePage_DataError_IsNeverRetried(string sqlState)
    {
        var inner = new Mock<IArchiveSink>();
        inner.Setup(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>())).ThrowsAsync(new PostgresException("bad row", "ERROR", "ERROR", sqlState));
        var sut = CreateSut(inner.Object);

        await Assert.ThrowsAsync<PostgresException>(() => Call(sut));
        inner.Verify(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task WritePage_EntityBusy_IsNeverRetried()
    {
        var inner = new Mock<IArchiveSink>();
        inner.Setup(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>())).ThrowsAsync(new EntityBusyException("message"));
        var sut = CreateSut(inner.Object);

        await Assert.ThrowsAsync<EntityBusyException>(() => Call(sut));
        inner.Verify(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task WritePage_HungAttempt_TimesOutAndIsRetried()
    {
        var calls = 0;
        var inner = new Mock<IArchiveSink>();
        inner.Setup(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>())).Returns(async (EntityDescriptor _, Guid _, IReadOnlyList<MappedRow> _, IReadOnlyList<DeadLetter> _, ChangeCursor _, CancellationToken ct) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                await Task.Delay(Timeout.Infinite, ct); // a hung COPY: only the per-attempt timeout ends it
            }

            return s_ok;
        });
        var sut = CreateSut(inner.Object, s => s["Archive:Resilience:PostgresAttemptTimeout"] = "00:00:00.2");

        Assert.Equal(s_ok, await Call(sut));
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task WritePage_DeadDependency_OpensBreakerAndFailsFastWithClearError()
    {
        var inner = new Mock<IArchiveSink>();
        inner.Setup(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>())).ThrowsAsync(new NpgsqlException("Failed to connect", new System.Net.Sockets.SocketException(111)));
        var sut = CreateSut(inner.Object, s =>
        {
            s["Archive:Resilience:MaxRetryAttempts"] = "10";
            s["Archive:Resilience:BreakerMinimumThroughput"] = "3";
        });

        var error = await Assert.ThrowsAsync<DependencyUnavailableException>(() => Call(sut));
        Assert.Contains("PostgreSQL at ConnectionStrings:Postgres (host 127.0.0.1, port 5442, database nexus) is unavailable", error.Message);
        inner.Verify(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>()), Times.Exactly(3)); // not 11: the open breaker stopped the retries

        await Assert.ThrowsAsync<DependencyUnavailableException>(() => Call(sut));
        inner.Verify(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>()), Times.Exactly(3)); // the next call is rejected without touching PostgreSQL
    }

    [Fact]
    public async Task Cancellation_ByCaller_IsNotRetried()
    {
        var inner = new Mock<IArchiveSink>();
        using var cts = new CancellationTokenSource();
        inner.Setup(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>())).Returns(async () =>
        {
            await cts.CancelAsync();
            cts.Token.ThrowIfCancellationRequested();
            return s_ok;
        });
        var sut = CreateSut(inner.Object);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sut.WritePageAsync(EntityCatalog.Message, Guid.Empty, [], [], ChangeCursor.Start, cts.Token));
        inner.Verify(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task RedisSource_ConnectionAndTimeoutErrors_AreRetriedButServerErrorsAreNot()
    {
        var inner = new Mock<IChangeSource>();
#pragma warning disable CS0618 // the tests only need the exception types; the CommandFlags overloads add nothing here
        inner.SetupSequence(s => s.GetServerTimeAsync(It.IsAny<CancellationToken>()))
            .ThrowsAsync(new RedisConnectionException(ConnectionFailureType.SocketClosed, "closed"))
            .ThrowsAsync(new RedisTimeoutException("timeout", CommandStatus.Sent))
            .ReturnsAsync(DateTimeOffset.UnixEpoch)
            .ThrowsAsync(new RedisServerException("WRONGTYPE"));
#pragma warning restore CS0618
        var services = Services();
        var sut = new ResilientChangeSource(inner.Object, new RedisCalls(services.GetRequiredService<ResiliencePipelineProvider<string>>(), services.GetRequiredService<IOptions<ResilienceOptions>>(), Endpoints));

        Assert.Equal(DateTimeOffset.UnixEpoch, await sut.GetServerTimeAsync(CancellationToken.None));
        await Assert.ThrowsAsync<RedisServerException>(() => sut.GetServerTimeAsync(CancellationToken.None));
        inner.Verify(s => s.GetServerTimeAsync(It.IsAny<CancellationToken>()), Times.Exactly(4));
    }

    [Fact]
    public async Task Retry_WaitsOnTheRegisteredTimeProvider()
    {
        var time = new FakeTimeProvider();
        var inner = new Mock<IArchiveSink>();
        inner.SetupSequence(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new NpgsqlException("connection broken", new IOException("reset")))
            .ReturnsAsync(s_ok);
        var sut = CreateSut(inner.Object, s => (s["Archive:Resilience:BaseDelay"], s["Archive:Resilience:MaxDelay"]) = ("00:00:30", "00:01:00"), time);

        var pending = Call(sut);
        await Task.Delay(100);
        Assert.False(pending.IsCompleted); // waiting 30 s (± jitter) of fake time
        for (var i = 0; i < 20 && !pending.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            await Task.Delay(20);
        }

        Assert.Equal(s_ok, await pending);
    }

    [Fact]
    public void Options_Invalid_FailStartWithMessagesNamingTheSetting()
    {
        var services = Services(s =>
        {
            s["Archive:Resilience:MaxRetryAttempts"] = "-1";
            s["Archive:Resilience:BreakerFailureRatio"] = "1.5";
            s["Archive:Resilience:PostgresAttemptTimeout"] = "00:00:00";
        });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<ResilienceOptions>>().Value);
        Assert.Contains(error.Failures, f => f.Contains("Archive:Resilience:MaxRetryAttempts", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Archive:Resilience:BreakerFailureRatio", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Archive:Resilience:PostgresAttemptTimeout", StringComparison.Ordinal));
    }

    [Fact]
    public void AddNexusArchive_RegistersResilientDecoratorsAroundTheRealSourceAndSink()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = "127.0.0.1:1,abortConnect=false",
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Username=x",
        }).Build();
        var collection = new ServiceCollection().AddLogging();
        NexusArchive.Core.NexusArchiveServiceCollectionExtensions.AddNexusArchive(collection, configuration);

        using var provider = collection.BuildServiceProvider();
        var pipelines = provider.GetRequiredService<ResiliencePipelineProvider<string>>();
        Assert.NotNull(pipelines.GetPipeline(ResiliencePipelineNames.Redis));
        Assert.NotNull(pipelines.GetPipeline(ResiliencePipelineNames.Postgres));
        Assert.IsType<ResilientArchiveSink>(provider.GetRequiredService<IArchiveSink>());
    }

    private static Task<PageWriteResult> Call(IArchiveSink sink) =>
        sink.WritePageAsync(EntityCatalog.Message, Guid.Empty, [], [], ChangeCursor.Start, CancellationToken.None);

    private static ServiceProvider Services(Action<Dictionary<string, string?>>? configure = null, TimeProvider? time = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Archive:Resilience:BaseDelay"] = "00:00:00.001",
            ["Archive:Resilience:MaxDelay"] = "00:00:00.01",
        };
        configure?.Invoke(settings);
        var collection = new ServiceCollection().AddLogging();
        if (time is not null)
        {
            collection.AddSingleton(time);
        }

        collection.AddNexusResilience(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        return collection.BuildServiceProvider();
    }

    private static ResilientArchiveSink CreateSut(IArchiveSink inner, Action<Dictionary<string, string?>>? configure = null, TimeProvider? time = null)
    {
        var services = Services(configure, time);
        return new ResilientArchiveSink(inner, new PostgresCalls(services.GetRequiredService<ResiliencePipelineProvider<string>>(), services.GetRequiredService<IOptions<ResilienceOptions>>(), Endpoints));
    }
}
