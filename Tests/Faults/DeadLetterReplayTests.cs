using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.DeadLetters;
using NexusArchive.Core.Entities;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Faults;

/// <summary>dead-letters list / replay / discard against real servers.</summary>
public sealed class DeadLetterReplayTests
{
    [Fact]
    public async Task Replay_FixedRecordResolves_GoneRecordIsReported_StillBadStaysOpen_DiscardCloses()
    {
        await using var harness = await ArchiveHarness.CreateAsync();
        var service = harness.Services.GetRequiredService<DeadLetterService>();
        var now = await harness.RedisNowMsAsync();
        // Bad records written around the Lua writer (which refuses them).
        await harness.WriteMessageUncheckedAsync("fixable", now - 20_000, ("role", "wizard"));
        await harness.WriteMessageUncheckedAsync("gone", now - 19_000, ("tokenCount", "x"));
        await harness.WriteMessageUncheckedAsync("hopeless", now - 18_000, ("metadata", "[1]"));
        await harness.RunAsync("message");
        Assert.Equal(3, (await service.ListAsync(new DeadLetterFilter("message"), 100, CancellationToken.None)).Count);

        const string Checkpoint = "SELECT score, member FROM {b}.checkpoints WHERE entity = 'message'";
        var before = await harness.QueryAsync(Checkpoint);
        await harness.WriteMessageAsync("fixable", now - 20_000, extra: ("role", "assistant")); // fixed at the source, same version
        await harness.Redis.KeyDeleteAsync(harness.Layout.RecordKey(EntityCatalog.Message, "gone"));
        var results = await service.ReplayAsync(new DeadLetterFilter(), CancellationToken.None);

        Assert.Equal(ReplayOutcome.Resolved, results.Single(r => r.RecordId == "fixable").Outcome);
        Assert.Equal(ReplayOutcome.Gone, results.Single(r => r.RecordId == "gone").Outcome);
        Assert.Equal(ReplayOutcome.StillFailing, results.Single(r => r.RecordId == "hopeless").Outcome);
        Assert.Equal("assistant", (await harness.QueryAsync("SELECT role FROM {t}.messages WHERE id = 'fixable'"))[0]["role"]);

        Assert.Equal(before.Single().Values, (await harness.QueryAsync(Checkpoint)).Single().Values); // a replay never moves the checkpoint

        Assert.Equal(1, await service.DiscardAsync(new DeadLetterFilter("message", ["gone"]), CancellationToken.None));
        var open = await service.ListAsync(new DeadLetterFilter(), 100, CancellationToken.None);
        Assert.Equal(["hopeless"], open.Select(d => d.RecordId));
        var all = await service.ListAsync(new DeadLetterFilter(IncludeClosed: true), 100, CancellationToken.None);
        Assert.Equal(["fixable:resolved", "gone:discarded", "hopeless:open"], all.Select(d => $"{d.RecordId}:{d.Status}").Order());
    }
}
