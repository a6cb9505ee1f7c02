using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using NexusArchive.Tests.Infrastructure;
using Xunit.Abstractions;

namespace NexusArchive.Tests.Faults;

/// <summary>Host shutdown mid-pass: whole pages only, and the committed checkpoint is exactly the last committed page's last entry.</summary>
public sealed class CancellationFaultTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(false)] // cancelled right after page 3 committed
    [InlineData(true)]  // cancelled while page 4's transaction is in flight
    public async Task Run_CancelledMidPass_LeavesWholePagesAndExactCheckpoint(bool duringPage)
    {
        var control = new CancellingSink.Control { AfterPages = 3, DuringNextPage = duringPage };
        await using var harness = await ArchiveHarness.CreateAsync(
            s => s["Archive:PageSize"] = "50",
            services: s => s.AddSingleton<IArchiveSink>(sp => new CancellingSink(ActivatorUtilities.CreateInstance<PostgresArchiveSink>(sp), control)));
        var now = await harness.RedisNowMsAsync();
        for (var i = 0; i < 400; i++)
        {
            await harness.WriteMessageAsync($"m-{i:D3}", now - 100_000 + (i / 4), content: $"content {i}");
        }

        var run = await harness.Archive.RunAsync(new ArchiveRunRequest("test", ["message"]), control.Cancellation.Token);

        Assert.Equal(RunStatus.Partial, run.Status);

        // Whole pages only: three, or four when the shutdown reached page 4 after its commit batch was already on the wire
        // (the pass checks the token before sending it; a COMMIT the server has received is not taken back). Either way the
        // checkpoint is exactly the last committed page's last entry.
        var archived = (int)await harness.CountAsync("messages");
        Assert.Contains(archived, (int[])(duringPage ? [150, 200] : [150]));
        var index = await harness.Redis.SortedSetRangeByRankWithScoresAsync(harness.Layout.ChangeIndexKey(EntityCatalog.Message));
        var lastCommitted = index[archived - 1];
        var checkpoint = (await harness.QueryAsync("SELECT score, member FROM {b}.checkpoints WHERE entity = 'message'"))[0];
        Assert.Equal(lastCommitted.Score, (double)checkpoint["score"]!);
        Assert.Equal((byte[])lastCommitted.Element!, (byte[])checkpoint["member"]!);
        Assert.Equal(index.Take(archived).Select(e => e.Element.ToString()), (await harness.QueryAsync("SELECT id FROM {t}.messages ORDER BY id")).Select(r => (string)r["id"]!));
        output.WriteLine($"cancelled {(duringPage ? "during page 4" : "after page 3")}: {archived / 50} whole pages committed");

        control.AfterPages = null;
        Assert.Equal(RunStatus.Succeeded, (await harness.RunAsync("message")).Status);
        var report = await ArchiveComparison.CompareAsync(harness, EntityCatalog.Message);
        output.WriteLine(FaultKit.Summary($"cancel-mid-pass(duringPage={duringPage})", scenarios: 1, faults: 1, report, TimeSpan.Zero));
        ArchiveComparison.AssertEqual(report);
    }

    private sealed class CancellingSink(IArchiveSink inner, CancellingSink.Control control) : IArchiveSink
    {
        private int _pages;

        public sealed class Control
        {
            public int? AfterPages { get; set; }

            public bool DuringNextPage { get; init; }

            public CancellationTokenSource Cancellation { get; } = new();
        }

        public Task<AcquiredCheckpoint> AcquireAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken) => inner.AcquireAsync(entity, runId, cancellationToken);

        public Task<bool> RenewAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken) => inner.RenewAsync(entity, runId, cancellationToken);

        public Task ReleaseAsync(EntityDescriptor entity, Guid runId, QuietMark? quiet, CancellationToken cancellationToken) => inner.ReleaseAsync(entity, runId, quiet, cancellationToken);

        public async Task<PageWriteResult> WritePageAsync(EntityDescriptor entity, Guid runId, IReadOnlyList<MappedRow> rows, IReadOnlyList<DeadLetter> deadLetters, ChangeCursor checkpoint, CancellationToken cancellationToken)
        {
            var page = Interlocked.Increment(ref _pages);
            if (control.DuringNextPage && page == control.AfterPages + 1)
            {
                // Shutdown arrives while this page's transaction is open: it must roll back entirely.
                var pending = inner.WritePageAsync(entity, runId, rows, deadLetters, checkpoint, cancellationToken);
                await control.Cancellation.CancelAsync();
                return await pending;
            }

            var result = await inner.WritePageAsync(entity, runId, rows, deadLetters, checkpoint, cancellationToken);
            if (!control.DuringNextPage && page == control.AfterPages)
            {
                await control.Cancellation.CancelAsync();
            }

            return result;
        }

        public Task<IReadOnlyList<ChangeEntry>> ExcludeArchivedAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken) => inner.ExcludeArchivedAsync(entity, entries, cancellationToken);

        public Task StartRunAsync(ArchiveRunResult run, CancellationToken cancellationToken) => inner.StartRunAsync(run, cancellationToken);

        public Task FinishRunAsync(ArchiveRunResult run, CancellationToken cancellationToken) => inner.FinishRunAsync(run, cancellationToken);
    }
}
