using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Moq;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Security;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using StackExchange.Redis;

namespace NexusArchive.Tests.Unit;

public sealed class ArchiveServiceTests
{
    private static readonly DateTimeOffset s_redisNow = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
    private readonly Mock<IChangeSource> _source = new(MockBehavior.Strict);
    private readonly Mock<IArchiveSink> _sink = new();
    private readonly FakeTimeProvider _time = new(s_redisNow);
    private readonly ArchiveOptions _options = new() { PageSize = 2, SettleWindow = TimeSpan.FromSeconds(5), LookbackOverlap = TimeSpan.FromMinutes(1) };

    public ArchiveServiceTests()
    {
        _source.Setup(s => s.GetServerTimeAsync(It.IsAny<CancellationToken>())).ReturnsAsync(s_redisNow);
        _source.Setup(s => s.GetShardLayoutAsync(It.IsAny<CancellationToken>())).ReturnsAsync(ShardLayout.Unsharded);
        _source.Setup(s => s.MirrorCheckpointAsync(It.IsAny<EntityDescriptor>(), It.IsAny<double>(), It.IsAny<CancellationToken>())).Returns(Task.CompletedTask);
        _source.Setup(s => s.GetWriteCountAsync(It.IsAny<EntityDescriptor>(), It.IsAny<CancellationToken>())).ReturnsAsync((WriteCount?)null);
        _source.Setup(s => s.ReadBeyondAsync(It.IsAny<EntityDescriptor>(), It.IsAny<double>(), It.IsAny<int>(), It.IsAny<CancellationToken>())).ReturnsAsync([]);
        _source.Setup(s => s.RaiseLateHorizonAsync(It.IsAny<EntityDescriptor>(), It.IsAny<double>(), It.IsAny<CancellationToken>())).Returns(Task.CompletedTask);
        _source.Setup(s => s.ReadLateAsync(It.IsAny<EntityDescriptor>(), It.IsAny<int>(), It.IsAny<CancellationToken>())).ReturnsAsync([]);
        _source.Setup(s => s.FetchAsync(It.IsAny<EntityDescriptor>(), It.IsAny<IReadOnlyList<ChangeEntry>>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync((EntityDescriptor _, IReadOnlyList<ChangeEntry> entries, CancellationToken _) =>
                [.. entries.Select(e => new SourceRecord(e, [new HashEntry("id", e.DisplayId), new HashEntry("createdAt", "1"), new HashEntry("updatedAt", "1")]) )]);
        _sink.Setup(s => s.AcquireAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<CancellationToken>())).ReturnsAsync(new AcquiredCheckpoint(null, null));
        _sink.Setup(s => s.RenewAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<CancellationToken>())).ReturnsAsync(true);
        _sink.Setup(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync((EntityDescriptor _, Guid _, IReadOnlyList<MappedRow> rows, IReadOnlyList<DeadLetter> dead, ChangeCursor _, CancellationToken _) => new PageWriteResult(rows.Count, 0, dead.Count));
    }

    private ArchiveService CreateSut() => new(
        EntityCatalog.Default, _source.Object, _sink.Object, Mock.Of<IArchiveSafetyCheck>(), new RecordMapper(), Options.Create(_options), _time,
        new ArchiveMetrics(new TestMeterFactory()), new RedisCommandMeter(new ArchiveMetrics(new TestMeterFactory())), NullLogger<ArchiveService>.Instance);

    private static ChangeEntry Entry(string id, double score) => new(Encoding.UTF8.GetBytes(id), score);

    private void Pages(EntityDescriptor entity, params ChangePage[] pages)
    {
        var sequence = _source.SetupSequence(s => s.ReadPageAsync(entity, It.IsAny<ChangeCursor>(), It.IsAny<double>(), It.IsAny<int>(), It.IsAny<CancellationToken>()));
        foreach (var page in pages)
        {
            sequence = sequence.ReturnsAsync(page);
        }
    }

    [Fact]
    public async Task RunAsync_WithCheckpoint_StartsOverlapBehindItAndStopsAtSettleBound()
    {
        _sink.Setup(s => s.AcquireAsync(EntityCatalog.User, It.IsAny<Guid>(), It.IsAny<CancellationToken>())).ReturnsAsync(new AcquiredCheckpoint(new ChangeCursor(1_000_000, Encoding.UTF8.GetBytes("u-9")), null));
        Pages(EntityCatalog.User, new ChangePage([], ReachedEnd: true));

        await CreateSut().RunAsync(new ArchiveRunRequest("test", ["user"]), CancellationToken.None);

        _source.Verify(s => s.ReadPageAsync(
            EntityCatalog.User,
            ChangeCursor.AtScore(1_000_000 - 60_000),
            s_redisNow.ToUnixTimeMilliseconds() - 5_000,
            2,
            It.IsAny<CancellationToken>()));
    }

    [Theory]
    [InlineData(true, 7L, 40L, 7L, 40L, false, true)]   // nothing written since the last pass at this checkpoint: start at the checkpoint, no late set, no future read
    [InlineData(true, 7L, 40L, 8L, 40L, false, false)]  // a write since: re-read the overlap
    [InlineData(true, 7L, 40L, 7L, 41L, false, false)]  // same counter, other index size (a counter rolled back by a failover): re-read
    [InlineData(true, 7L, 40L, 7L, 40L, true, false)]   // the checkpoint moved under us (another process, a backfill rewind): re-read
    [InlineData(true, null, null, null, null, false, false)] // writers keep no counter: always re-read
    [InlineData(false, 7L, 40L, 7L, 40L, false, false)] // Archive:QuietPasses off: always re-read
    public async Task RunAsync_SecondPass_SkipsTheOverlapOnlyWhenNothingWasWrittenSince(
        bool quietPasses, long? firstCount, long? firstSize, long? secondCount, long? secondSize, bool checkpointMoved, bool skips)
    {
        _options.QuietPasses = quietPasses;
        var checkpoint = new ChangeCursor(1_000_000, Encoding.UTF8.GetBytes("u-9"));
        var moved = new ChangeCursor(1_000_500, Encoding.UTF8.GetBytes("u-10"));
        // The sink keeps what the first pass leaves on release and hands it to the second, as the checkpoint row does.
        QuietMark? stored = null;
        var acquisitions = 0;
        _sink.Setup(s => s.AcquireAsync(EntityCatalog.User, It.IsAny<Guid>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(() => new AcquiredCheckpoint(acquisitions++ == 0 || !checkpointMoved ? checkpoint : moved, stored));
        _sink.Setup(s => s.ReleaseAsync(EntityCatalog.User, It.IsAny<Guid>(), It.IsAny<QuietMark?>(), It.IsAny<CancellationToken>()))
            .Callback((EntityDescriptor _, Guid _, QuietMark? quiet, CancellationToken _) => stored = quiet)
            .Returns(Task.CompletedTask);
        _source.SetupSequence(s => s.GetWriteCountAsync(EntityCatalog.User, It.IsAny<CancellationToken>()))
            .ReturnsAsync(firstCount is { } a ? new WriteCount(a, firstSize!.Value) : null)
            .ReturnsAsync(secondCount is { } b ? new WriteCount(b, secondSize!.Value) : null);
        var cursors = new List<ChangeCursor>();
        _source.Setup(s => s.ReadPageAsync(EntityCatalog.User, It.IsAny<ChangeCursor>(), It.IsAny<double>(), It.IsAny<int>(), It.IsAny<CancellationToken>()))
            .Callback((EntityDescriptor _, ChangeCursor after, double _, int _, CancellationToken _) => cursors.Add(after))
            .ReturnsAsync(new ChangePage([], ReachedEnd: true));
        var sut = CreateSut();

        await sut.RunAsync(new ArchiveRunRequest("test", ["user"]), CancellationToken.None);
        await sut.RunAsync(new ArchiveRunRequest("test", ["user"]), CancellationToken.None);

        Assert.Equal(ChangeCursor.AtScore(1_000_000 - 60_000), cursors[0]);
        var second = checkpointMoved ? moved : checkpoint;
        Assert.Equal(skips ? second : ChangeCursor.AtScore(second.Score - 60_000), cursors[1]);
        _source.Verify(s => s.GetWriteCountAsync(It.IsAny<EntityDescriptor>(), It.IsAny<CancellationToken>()), quietPasses ? Times.Exactly(2) : Times.Never());

        // A quiet pass neither drains the late set nor re-reads the records stamped in the future: its commands are
        // the write count, the horizon and the first page (docs/performance.md, "No-op pass").
        _source.Verify(s => s.ReadLateAsync(EntityCatalog.User, It.IsAny<int>(), It.IsAny<CancellationToken>()), Times.Exactly(skips ? 1 : 2));
        _source.Verify(s => s.ReadBeyondAsync(EntityCatalog.User, It.IsAny<double>(), It.IsAny<int>(), It.IsAny<CancellationToken>()), Times.Exactly(skips ? 1 : 2));
    }

    [Fact]
    public async Task RunAsync_MultiplePages_CommitsEachWithAdvancingCheckpointAndCarriesCursor()
    {
        Pages(EntityCatalog.User,
            new ChangePage([Entry("u-1", 10), Entry("u-2", 10)], ReachedEnd: false),
            new ChangePage([Entry("u-3", 11)], ReachedEnd: true));

        var run = await CreateSut().RunAsync(new ArchiveRunRequest("test", ["user"]), CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(3, run.Entities.Single().Read);
        Assert.Equal(2, run.Entities.Single().Pages);
        _source.Verify(s => s.ReadPageAsync(EntityCatalog.User, new ChangeCursor(10, Encoding.UTF8.GetBytes("u-2")), It.IsAny<double>(), 2, It.IsAny<CancellationToken>()));
        _sink.Verify(s => s.WritePageAsync(EntityCatalog.User, run.RunId, It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), new ChangeCursor(11, Encoding.UTF8.GetBytes("u-3")), It.IsAny<CancellationToken>()));
        _sink.Verify(s => s.ReleaseAsync(EntityCatalog.User, run.RunId, It.IsAny<QuietMark?>(), It.IsAny<CancellationToken>()));
        _sink.Verify(s => s.FinishRunAsync(It.Is<ArchiveRunResult>(r => r.Status == RunStatus.Succeeded), It.IsAny<CancellationToken>()));
    }

    [Fact]
    public async Task RunAsync_TimeBudgetSpentAfterFirstPage_StopsBetweenPagesAsPartial()
    {
        _options.TimeBudget = TimeSpan.FromSeconds(10);
        _source.Setup(s => s.ReadPageAsync(EntityCatalog.User, It.IsAny<ChangeCursor>(), It.IsAny<double>(), It.IsAny<int>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(() =>
            {
                _time.Advance(TimeSpan.FromSeconds(11));
                return new ChangePage([Entry("u-1", 10)], ReachedEnd: false);
            });

        var run = await CreateSut().RunAsync(new ArchiveRunRequest("test"), CancellationToken.None);

        Assert.Equal(RunStatus.Partial, run.Status);
        Assert.Equal(RunStatus.Partial, run.Entities[0].Status);
        Assert.All(run.Entities.Skip(1), e => Assert.Equal(RunStatus.Skipped, e.Status));
        _sink.Verify(s => s.WritePageAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task RunAsync_EntityBusy_ReportsConflictForItAndPartialForTheRunThatWorkedOthers()
    {
        _sink.Setup(s => s.AcquireAsync(EntityCatalog.User, It.IsAny<Guid>(), It.IsAny<CancellationToken>())).ThrowsAsync(new EntityBusyException("user"));
        Pages(EntityCatalog.Session, new ChangePage([], ReachedEnd: true));

        var run = await CreateSut().RunAsync(new ArchiveRunRequest("test", ["user", "session"]), CancellationToken.None);

        Assert.Equal(RunStatus.Partial, run.Status); // Conflict is kept for "nothing was worked"
        Assert.Equal([RunStatus.Conflict, RunStatus.Succeeded], run.Entities.Select(e => e.Status));
        _sink.Verify(s => s.ReleaseAsync(EntityCatalog.User, It.IsAny<Guid>(), It.IsAny<QuietMark?>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Fact]
    public async Task RunAsync_EveryEntityBusy_ReportsConflict()
    {
        _sink.Setup(s => s.AcquireAsync(It.IsAny<EntityDescriptor>(), It.IsAny<Guid>(), It.IsAny<CancellationToken>())).ThrowsAsync(new EntityBusyException("any"));

        var run = await CreateSut().RunAsync(new ArchiveRunRequest("test", ["user", "session"]), CancellationToken.None);

        Assert.Equal(RunStatus.Conflict, run.Status);
        Assert.Equal([RunStatus.Conflict, RunStatus.Conflict], run.Entities.Select(e => e.Status));
    }

    [Fact]
    public async Task RunAsync_SinkFails_StopsTheRunWithRedactedErrorAndSkipsLaterEntities()
    {
        Pages(EntityCatalog.User, new ChangePage([Entry("u-1", 10)], ReachedEnd: true));
        _sink.Setup(s => s.WritePageAsync(EntityCatalog.User, It.IsAny<Guid>(), It.IsAny<IReadOnlyList<MappedRow>>(), It.IsAny<IReadOnlyList<DeadLetter>>(), It.IsAny<ChangeCursor>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new IOException("disk on fire"));

        var run = await CreateSut().RunAsync(new ArchiveRunRequest("test"), CancellationToken.None);

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Equal("user: IOException: disk on fire", run.Error);
        Assert.All(run.Entities.Skip(1), e => Assert.Equal(RunStatus.Skipped, e.Status));
        _sink.Verify(s => s.ReleaseAsync(EntityCatalog.User, run.RunId, It.IsAny<QuietMark?>(), It.IsAny<CancellationToken>()));
    }

    [Fact]
    public async Task RunAsync_UnknownEntity_Throws()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => CreateSut().RunAsync(new ArchiveRunRequest("test", ["reaction"]), CancellationToken.None));
    }

    private sealed class TestMeterFactory : System.Diagnostics.Metrics.IMeterFactory
    {
        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }
}
