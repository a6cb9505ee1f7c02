using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Integration;

/// <summary>
/// Late writes are archived at any age, exactly, without a time window: a write stamped behind the archive's checkpoint
/// (an offline mobile client, a replayed queue, an import) is recorded by the writer in the late set and drained by the
/// next pass. The look-back overlap is set to zero here, so nothing but the late set can bring these records in.
/// </summary>
public sealed class LateWriteTests
{
    private static Task<ArchiveHarness> CreateAsync(Action<IServiceCollection>? services = null) =>
        ArchiveHarness.CreateAsync(
            s =>
            {
                s["Archive:LookbackOverlap"] = "00:00:00";
                s["Archive:PageSize"] = "20";
                s["Archive:Entities:0"] = "message";
            },
            services: services);

    [Theory]
    [InlineData(3 * 60_000L)]
    [InlineData(24 * 3_600_000L)]
    [InlineData(90 * 24 * 3_600_000L)]
    public async Task Write_BehindTheCheckpoint_IsArchivedByTheNextPass(long behindMs)
    {
        await using var h = await CreateAsync();
        var now = await h.RedisNowMsAsync();
        for (var i = 0; i < 30; i++)
        {
            await h.WriteMessageAsync($"m-{i:D3}", now - 60_000 + i);
        }

        Assert.Equal(RunStatus.Succeeded, (await h.RunAsync("message")).Status);
        await h.WriteMessageAsync("m-late", now - 60_000 - behindMs, content: "from an offline phone");
        Assert.Equal(1, await h.Redis.SortedSetLengthAsync(h.Layout.LateSetKey(EntityCatalog.Message)));

        var run = await h.RunAsync("message");

        var stats = Assert.Single(run.Entities);
        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(1, stats.Late);
        Assert.Equal(1, stats.Upserted);
        Assert.Equal("from an offline phone", (await h.QueryAsync("SELECT content FROM {t}.messages WHERE id = 'm-late'")).Single()["content"]);
        Assert.Equal(0, await h.Redis.SortedSetLengthAsync(h.Layout.LateSetKey(EntityCatalog.Message)));
    }

    [Fact]
    public async Task LateWrites_FromConcurrentWritersDuringPasses_AreAllArchived()
    {
        await using var h = await CreateAsync();
        var now = await h.RedisNowMsAsync();
        for (var i = 0; i < 200; i++)
        {
            await h.WriteMessageAsync($"m-{i:D4}", now - 60_000 + i);
        }

        Assert.Equal(RunStatus.Succeeded, (await h.RunAsync("message")).Status);

        // Four writers stamp records from 3 minutes to 90 days behind the checkpoint while passes run.
        using var stop = new CancellationTokenSource();
        var written = new System.Collections.Concurrent.ConcurrentBag<string>();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 150; i++)
            {
                var id = $"late-{w}-{i:D3}";
                await h.WriteMessageAsync(id, now - 60_000 - 180_000 - ((long)i * 3_600_000 * 14), content: $"late {w} {i}");
                written.Add(id);
            }
        })).ToList();
        var passes = Task.Run(async () =>
        {
            while (!writers.All(t => t.IsCompleted))
            {
                await h.RunAsync("message");
            }
        });
        await Task.WhenAll(writers);
        await passes;
        await h.RunAsync("message");

        Assert.Equal(600, written.Count);
        Assert.Equal(800, await h.CountAsync("messages"));
        Assert.Equal(0, await h.Redis.SortedSetLengthAsync(h.Layout.LateSetKey(EntityCatalog.Message)));
    }

    [Fact]
    public async Task Pass_KilledWhileDrainingLateWrites_ThenRerun_LosesNothing()
    {
        var failing = new FailOnSecondDrainPage();
        await using var h = await CreateAsync(s => s.AddSingleton<IArchiveSink>(sp =>
            failing.Wrap(ActivatorUtilities.CreateInstance<Core.Resilience.ResilientArchiveSink>(sp, ActivatorUtilities.CreateInstance<PostgresArchiveSink>(sp)))));
        var now = await h.RedisNowMsAsync();
        for (var i = 0; i < 10; i++)
        {
            await h.WriteMessageAsync($"m-{i:D3}", now - 60_000 + i);
        }

        Assert.Equal(RunStatus.Succeeded, (await h.RunAsync("message")).Status);
        for (var i = 0; i < 70; i++)
        {
            await h.WriteMessageAsync($"late-{i:D3}", now - 3_600_000 - i, content: $"late {i}");
        }

        failing.Armed = true;
        var killed = await h.RunAsync("message");
        Assert.Equal(RunStatus.Failed, killed.Status);
        Assert.Equal(30, await h.CountAsync("messages")); // the first drain page of 20 committed, nothing half-written

        failing.Armed = false;
        var rerun = await h.RunAsync("message");

        Assert.Equal(RunStatus.Succeeded, rerun.Status);
        Assert.Equal(80, await h.CountAsync("messages"));
        Assert.Equal(0, await h.Redis.SortedSetLengthAsync(h.Layout.LateSetKey(EntityCatalog.Message)));
    }

    /// <summary>Fails the second page write of a pass that never moves the checkpoint forward (a drain page).</summary>
    private sealed class FailOnSecondDrainPage
    {
        private int _drainPages;

        public bool Armed { get; set; }

        public IArchiveSink Wrap(IArchiveSink inner) => new Sink(inner, this);

        private sealed class Sink(IArchiveSink inner, FailOnSecondDrainPage control) : IArchiveSink
        {
            public Task<AcquiredCheckpoint> AcquireAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken) => inner.AcquireAsync(entity, runId, cancellationToken);

            public Task<bool> RenewAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken) => inner.RenewAsync(entity, runId, cancellationToken);

            public Task ReleaseAsync(EntityDescriptor entity, Guid runId, QuietMark? quiet, CancellationToken cancellationToken) => inner.ReleaseAsync(entity, runId, quiet, cancellationToken);

            public Task<PageWriteResult> WritePageAsync(EntityDescriptor entity, Guid runId, IReadOnlyList<MappedRow> rows, IReadOnlyList<DeadLetter> deadLetters, ChangeCursor checkpoint, CancellationToken cancellationToken)
            {
                if (control.Armed && rows.Count > 0 && rows.All(r => r.Entry.DisplayId.StartsWith("late-", StringComparison.Ordinal))
                    && Interlocked.Increment(ref control._drainPages) == 2)
                {
                    throw new IOException("the archiver's host was recycled mid-drain");
                }

                return inner.WritePageAsync(entity, runId, rows, deadLetters, checkpoint, cancellationToken);
            }

            public Task<IReadOnlyList<ChangeEntry>> ExcludeArchivedAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken) =>
                inner.ExcludeArchivedAsync(entity, entries, cancellationToken);

            public Task StartRunAsync(ArchiveRunResult run, CancellationToken cancellationToken) => inner.StartRunAsync(run, cancellationToken);

            public Task FinishRunAsync(ArchiveRunResult run, CancellationToken cancellationToken) => inner.FinishRunAsync(run, cancellationToken);
        }
    }
}
