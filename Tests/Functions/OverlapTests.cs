using Microsoft.Azure.Functions.Worker;
using NexusArchive.Core.Archiving;
using NexusArchive.Tests.Infrastructure;
using static NexusArchive.Tests.Functions.FunctionsTestKit;

namespace NexusArchive.Tests.Functions;

/// <summary>
/// Truly concurrent passes through the function classes on a backlog of many small pages: Core's per-entity
/// advisory lock + lease lets exactly one work the entity; the other answers 409 (kick) or logs and exits (timer).
/// </summary>
public sealed class OverlapTests
{
    private const int Backlog = 2000;

    [Fact]
    public async Task TwoKicks_StartedTogether_OneArchivesEverythingTheOtherGets409()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = "20");
        await WriteMessagesAsync(h, Backlog);
        var a = Http(h);
        var b = Http(h);
        using var start = new ManualResetEventSlim();

        var kicks = new[] { a, b }
            .Select(f => Task.Run(async () =>
            {
                start.Wait();
                return await ExecuteAsync(await f.RunAsync(Post("""{"entities":["message"]}"""), CancellationToken.None));
            }))
            .ToArray();
        start.Set();
        var results = await Task.WhenAll(kicks);

        Assert.Equal([200, 409], results.Select(r => r.StatusCode).Order());
        var winner = results.Single(r => r.StatusCode == 200).Body;
        var loser = results.Single(r => r.StatusCode == 409).Body;
        Assert.Equal("Succeeded", winner.Str("status"));
        Assert.Equal(Backlog, winner.GetProperty("totalUpserted").GetInt64());
        Assert.Equal("Conflict", loser.Str("status"));
        Assert.Equal(0, loser.GetProperty("totalUpserted").GetInt64());
        Assert.Equal(Backlog, await h.CountAsync("messages"));
        Assert.Equal(Backlog, await h.ScalarAsync("SELECT count(DISTINCT id) FROM {t}.messages"));
        var statuses = (await h.QueryAsync("SELECT status FROM {b}.runs")).Select(r => (string)r["status"]!).Order();
        Assert.Equal(["Conflict", "Succeeded"], statuses);
    }

    [Fact]
    public async Task TimerAndKick_StartedTogether_ExactlyOneWorksAndTheTablesAreComplete()
    {
        // Both passes take the configured entity list (the kick names none), so they meet on the same entity.
        await using var h = await ArchiveHarness.CreateAsync(s =>
        {
            s["Archive:PageSize"] = "20";
            s["Archive:Entities:0"] = "message";
        });
        await WriteMessagesAsync(h, Backlog);
        var timer = Timer(h);
        var http = Http(h);
        using var start = new ManualResetEventSlim();

        var timerRun = Task.Run(async () =>
        {
            start.Wait();
            await timer.RunAsync(new TimerInfo { IsPastDue = false }, CancellationToken.None);
        });
        var kick = Task.Run(async () =>
        {
            start.Wait();
            return await ExecuteAsync(await http.RunAsync(Post(), CancellationToken.None));
        });
        start.Set();
        await timerRun;
        var (kickStatus, _) = await kick;

        var runs = (await h.QueryAsync("SELECT trigger, status FROM {b}.runs"))
            .ToDictionary(r => (string)r["trigger"]!, r => (string)r["status"]!);
        Assert.Equal(["Conflict", "Succeeded"], runs.Values.Order());
        Assert.Equal(kickStatus == 409 ? nameof(RunStatus.Conflict) : nameof(RunStatus.Succeeded), runs["http"]);
        Assert.Equal(kickStatus == 409 ? nameof(RunStatus.Succeeded) : nameof(RunStatus.Conflict), runs["timer"]);
        Assert.Equal(Backlog, await h.CountAsync("messages"));
    }
}
