using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Integration;

/// <summary>
/// A live pass never loses its lease to nobody: it is renewed while the pass reads, not only when a page commits.
/// Seen before the fix: a pass re-reading a long look-back overlap for longer than <c>Archive:LeaseTimeout</c> found its
/// lease expired at its first commit and reported Conflict with 0 rows, with no other pass running.
/// </summary>
public sealed class LeaseRenewalTests
{
    [Fact]
    public async Task Pass_ReadingAnOverlapLongerThanTheLease_KeepsItsLeaseAndCommits()
    {
        var slow = new SlowSource.Delay();
        await using var h = await ArchiveHarness.CreateAsync(
            s =>
            {
                s["Archive:PageSize"] = "10";
                s["Archive:LeaseTimeout"] = "00:00:02";
                s["Archive:LookbackOverlap"] = "00:10:00";
                s["Archive:Entities:0"] = "message";
            },
            services: s => s.AddSingleton<IChangeSource>(sp => new SlowSource(ActivatorUtilities.CreateInstance<Core.Resilience.ResilientChangeSource>(sp, sp.GetRequiredService<RedisChangeSource>()), slow)));
        var now = await h.RedisNowMsAsync();
        for (var i = 0; i < 50; i++)
        {
            await h.WriteMessageAsync($"m-{i:D3}", now - 120_000 + i);
        }

        Assert.Equal(RunStatus.Succeeded, (await h.RunAsync("message")).Status);
        await h.WriteMessageAsync("m-late", now - 60_000);

        // Six overlap pages of archived records at 0.8 s each: about 5 s of reading before the one commit, 2.5 leases.
        slow.PerPage = TimeSpan.FromMilliseconds(800);
        var run = await h.RunAsync("message");

        var stats = Assert.Single(run.Entities);
        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(1, stats.Upserted);
        Assert.Equal(51, await h.CountAsync("messages"));
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.checkpoints WHERE lease_owner IS NOT NULL"));
    }

    /// <summary>The real source with a pause before every page of the change index.</summary>
    private sealed class SlowSource(IChangeSource inner, SlowSource.Delay delay) : IChangeSource
    {
        public sealed class Delay
        {
            public TimeSpan PerPage { get; set; }
        }

        public Task<DateTimeOffset> GetServerTimeAsync(CancellationToken cancellationToken) => inner.GetServerTimeAsync(cancellationToken);

        public Task<ShardLayout> GetShardLayoutAsync(CancellationToken cancellationToken) => inner.GetShardLayoutAsync(cancellationToken);

        public Task<(long Moved, long Left)> DrainStreamAsync(EntityDescriptor stream, double archivedUpTo, int limit, CancellationToken cancellationToken) =>
            inner.DrainStreamAsync(stream, archivedUpTo, limit, cancellationToken);

        public Task<IReadOnlyList<StreamBacklog>> GetBacklogsAsync(IReadOnlyList<(EntityDescriptor Stream, double After)> streams, double upTo, CancellationToken cancellationToken) =>
            inner.GetBacklogsAsync(streams, upTo, cancellationToken);

        public async Task<ChangePage> ReadPageAsync(EntityDescriptor entity, ChangeCursor after, double maxScore, int limit, CancellationToken cancellationToken)
        {
            await Task.Delay(delay.PerPage, cancellationToken);
            return await inner.ReadPageAsync(entity, after, maxScore, limit, cancellationToken);
        }

        public Task<IReadOnlyList<SourceRecord>> FetchAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken) =>
            inner.FetchAsync(entity, entries, cancellationToken);

        public Task<IReadOnlyList<ChangeEntry>> ReadBeyondAsync(EntityDescriptor entity, double minScore, int limit, CancellationToken cancellationToken) =>
            inner.ReadBeyondAsync(entity, minScore, limit, cancellationToken);

        public Task<long> CountAfterAsync(EntityDescriptor entity, double afterScore, CancellationToken cancellationToken) =>
            inner.CountAfterAsync(entity, afterScore, cancellationToken);

        public Task<WriteCount?> GetWriteCountAsync(EntityDescriptor entity, CancellationToken cancellationToken) =>
            inner.GetWriteCountAsync(entity, cancellationToken);

        public Task MirrorCheckpointAsync(EntityDescriptor entity, double score, CancellationToken cancellationToken) =>
            inner.MirrorCheckpointAsync(entity, score, cancellationToken);

        public Task RaiseLateHorizonAsync(EntityDescriptor entity, double score, CancellationToken cancellationToken) =>
            inner.RaiseLateHorizonAsync(entity, score, cancellationToken);

        public Task<IReadOnlyList<ChangeEntry>> ReadLateAsync(EntityDescriptor entity, int limit, CancellationToken cancellationToken) =>
            inner.ReadLateAsync(entity, limit, cancellationToken);

        public Task RemoveLateAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken) =>
            inner.RemoveLateAsync(entity, entries, cancellationToken);
    }
}
