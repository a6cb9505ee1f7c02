using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Integration;

/// <summary>A pass that dies between pages leaves whole pages only; the next pass continues to the same end state.</summary>
public sealed class CrashResumeTests
{
    [Fact]
    public async Task Run_FailingOnThirdPage_ThenRerun_EqualsUninterruptedRun()
    {
        var failing = new FailingSink.Switch { FailOnPage = 3 };
        await using var interrupted = await ArchiveHarness.CreateAsync(
            s => s["Archive:PageSize"] = "50",
            services: s => s.AddSingleton<IArchiveSink>(sp => new FailingSink(ActivatorUtilities.CreateInstance<PostgresArchiveSink>(sp), failing)));
        await using var reference = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = "50");
        var now = await interrupted.RedisNowMsAsync();
        foreach (var h in new[] { interrupted, reference })
        {
            for (var i = 0; i < 400; i++)
            {
                await h.WriteMessageAsync($"m-{i:D3}", now - 100_000 + (i / 3), content: $"content {i}");
            }
        }

        var crashed = await interrupted.RunAsync("message");
        Assert.Equal(RunStatus.Failed, crashed.Status);
        Assert.Equal(100, await interrupted.CountAsync("messages")); // exactly two whole pages, nothing half-written

        failing.FailOnPage = null;
        var resumed = await interrupted.RunAsync("message");
        await reference.RunAsync("message");

        Assert.Equal(RunStatus.Succeeded, resumed.Status);
        const string Snapshot = "SELECT id, content, updated_at, created_at FROM {t}.messages ORDER BY id";
        var expected = await reference.QueryAsync(Snapshot);
        var actual = await interrupted.QueryAsync(Snapshot);
        Assert.Equal(400, actual.Count);
        Assert.Equal(expected.Select(r => string.Join('|', r.Values)), actual.Select(r => string.Join('|', r.Values)));
    }

    private sealed class FailingSink(IArchiveSink inner, FailingSink.Switch control) : IArchiveSink
    {
        private int _pages;

        public sealed class Switch
        {
            public int? FailOnPage { get; set; }
        }

        public Task<AcquiredCheckpoint> AcquireAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken) => inner.AcquireAsync(entity, runId, cancellationToken);

        public Task<bool> RenewAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken) => inner.RenewAsync(entity, runId, cancellationToken);

        public Task ReleaseAsync(EntityDescriptor entity, Guid runId, QuietMark? quiet, CancellationToken cancellationToken) => inner.ReleaseAsync(entity, runId, quiet, cancellationToken);

        public Task<PageWriteResult> WritePageAsync(EntityDescriptor entity, Guid runId, IReadOnlyList<MappedRow> rows, IReadOnlyList<DeadLetter> deadLetters, ChangeCursor checkpoint, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _pages) == control.FailOnPage)
            {
                throw new IOException("simulated crash before the page committed");
            }

            return inner.WritePageAsync(entity, runId, rows, deadLetters, checkpoint, cancellationToken);
        }

        public Task<IReadOnlyList<ChangeEntry>> ExcludeArchivedAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken) => inner.ExcludeArchivedAsync(entity, entries, cancellationToken);

        public Task StartRunAsync(ArchiveRunResult run, CancellationToken cancellationToken) => inner.StartRunAsync(run, cancellationToken);

        public Task FinishRunAsync(ArchiveRunResult run, CancellationToken cancellationToken) => inner.FinishRunAsync(run, cancellationToken);
    }
}
