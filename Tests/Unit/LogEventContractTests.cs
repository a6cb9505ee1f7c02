using System.Reflection;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Functions;

namespace NexusArchive.Tests.Unit;

/// <summary>
/// Log event ids, names and levels are a contract with dashboards and alerts (docs/functions.md, infra/main.bicep).
/// This test pins every <see cref="LoggerMessageAttribute"/> event against the table below: a new event, or a changed
/// id, name or level, fails here until the table is updated on purpose (and the dashboards with it).
/// </summary>
public sealed class LogEventContractTests
{
    private const string Core = "NexusArchive.Core";
    private const string Functions = "NexusArchive.Functions";

    /// <summary>The contract: every event, by the assembly that writes it.</summary>
    private static readonly LogEvent[] s_expected =
    [
        // Core: archive runs, migrations, demo data.
        new(Core, 1000, "RunStarted", LogLevel.Information),
        new(Core, 1001, "RunFinished", LogLevel.Information),
        new(Core, 1002, "RunFailed", LogLevel.Error),
        new(Core, 1003, "EntityBusy", LogLevel.Warning),
        new(Core, 1004, "RunStoppedEarly", LogLevel.Information),
        new(Core, 1005, "PageCommitted", LogLevel.Debug),
        new(Core, 1006, "RecordsVanished", LogLevel.Information),
        new(Core, 1007, "RecordDeadLettered", LogLevel.Warning),
        new(Core, 1008, "RowRejected", LogLevel.Warning),
        new(Core, 1009, "CheckpointMirrorFailed", LogLevel.Warning),
        new(Core, 1010, "RunHistoryFailed", LogLevel.Warning),
        new(Core, 1011, "LeaseReleaseFailed", LogLevel.Warning),
        new(Core, 1012, "LeaseLost", LogLevel.Warning),
        new(Core, 1013, "LeaseRenewalFailed", LogLevel.Warning),
        new(Core, 1014, "LateWritesDrained", LogLevel.Information),
        new(Core, 1015, "RecordsArchived", LogLevel.Information),
        new(Core, 1016, "RecordEventRejected", LogLevel.Error),
        new(Core, 1017, "StreamDrained", LogLevel.Information),
        new(Core, 1018, "Resharded", LogLevel.Warning),
        new(Core, 1020, "MigrationApplied", LogLevel.Information),
        new(Core, 1021, "SearchLanguageApplied", LogLevel.Information),
        new(Core, 1022, "SearchIndexBuilt", LogLevel.Information),
        new(Core, 1023, "SearchIndexDropped", LogLevel.Information),
        new(Core, 1024, "SearchIndexBusy", LogLevel.Warning),
        new(Core, 1030, "DemoSeeded", LogLevel.Information),

        // Functions app.
        new(Functions, 2000, "TimerFired", LogLevel.Information),
        new(Functions, 2001, "TimerConflict", LogLevel.Warning),
        new(Functions, 2002, "TimerRunFailed", LogLevel.Error),
        new(Functions, 2003, "ArchiveScheduleInvalid", LogLevel.Critical),
        new(Functions, 2004, "StartupMigrationApplied", LogLevel.Information),
        new(Functions, 2005, "StartupMigrationFailed", LogLevel.Critical),
        new(Functions, 2006, "NeedsAttention", LogLevel.Error),
        new(Functions, 2007, "VerifyScheduleInvalid", LogLevel.Critical),
        new(Functions, 2008, "OffloadScheduleInvalid", LogLevel.Critical),
        new(Functions, 2010, "KickReceived", LogLevel.Information),
        new(Functions, 2011, "KickRejected", LogLevel.Warning),
        new(Functions, 2012, "KickAnswered", LogLevel.Information),
        new(Functions, 2020, "VerifyTimerFired", LogLevel.Information),
        new(Functions, 2021, "VerifyTimerFailed", LogLevel.Error),
        new(Functions, 2030, "OffloadTimerFired", LogLevel.Information),
        new(Functions, 2031, "OffloadDisabled", LogLevel.Information),
        new(Functions, 2032, "OffloadTimerRefused", LogLevel.Warning),
        new(Functions, 2040, "SessionRestoreAnswered", LogLevel.Information),
        new(Functions, 2050, "ArchiveQueueInvalid", LogLevel.Critical),
        new(Functions, 2060, "ShardsEnqueued", LogLevel.Information),
        new(Functions, 2061, "ShardPlanFailed", LogLevel.Warning),
        new(Functions, 2062, "ShardPassConflict", LogLevel.Information),
        new(Functions, 2063, "ShardPassFailed", LogLevel.Error),
        new(Functions, 2064, "ShardMessageInvalid", LogLevel.Error),
        new(Functions, 2065, "ShardQueueInvalid", LogLevel.Critical),

        // Core: verify, restore, backfill.
        new(Core, 3000, "VerifyEntityFinished", LogLevel.Information),
        new(Core, 3001, "VerifyFoundProblems", LogLevel.Warning),
        new(Core, 3002, "VerificationFinished", LogLevel.Information),
        new(Core, 3003, "IncrementalVerifyEntityFinished", LogLevel.Information),
        new(Core, 3004, "VerificationFailed", LogLevel.Error),
        new(Core, 3005, "VerificationHistoryFailed", LogLevel.Warning),
        new(Core, 3010, "RestoreEntityFinished", LogLevel.Information),
        new(Core, 3011, "RestoreRecordRefused", LogLevel.Warning),
        new(Core, 3030, "OffloadStarted", LogLevel.Information),
        new(Core, 3031, "OffloadProgress", LogLevel.Information),
        new(Core, 3032, "OffloadFinished", LogLevel.Information),
        new(Core, 3033, "OffloadHistoryFailed", LogLevel.Warning),
        new(Core, 3034, "OffloadMarkersCleared", LogLevel.Information),
        new(Core, 3040, "UserExported", LogLevel.Information),
        new(Core, 3041, "UserErased", LogLevel.Warning),
        new(Core, 3020, "BackfillResumed", LogLevel.Information),
        new(Core, 3021, "BackfillEntityFinished", LogLevel.Information),
        new(Core, 3022, "BackfillInterrupted", LogLevel.Warning),
        new(Core, 3023, "BackfillCheckpointRewound", LogLevel.Warning),
        new(Core, 3024, "BackfillRewindBlocked", LogLevel.Error),

        // Core: resilience and dead letters.
        new(Core, 4000, "RetryScheduled", LogLevel.Warning),
        new(Core, 4001, "CircuitOpened", LogLevel.Error),
        new(Core, 4002, "CircuitClosed", LogLevel.Information),
        new(Core, 4003, "DeadLetterReplayed", LogLevel.Information),
        new(Core, 4004, "DeadLettersDiscarded", LogLevel.Information),

        // Core: security.
        new(Core, 5000, "SafetyCheckPassed", LogLevel.Debug),
        new(Core, 5001, "SafetyCheckDisabled", LogLevel.Warning),
        new(Core, 5002, "RoleBypassesRls", LogLevel.Warning),
        new(Core, 5003, "SafetyCheckFailed", LogLevel.Error),
        new(Core, 5004, "OwnerClaimConfigured", LogLevel.Information),
    ];

    /// <summary>The assemblies that declare log events (the CLI and the benchmark log through Core's).</summary>
    private static readonly Assembly[] s_scanned = [typeof(LogEventIds).Assembly, typeof(FunctionsLogEventIds).Assembly];

    [Fact]
    public void LoggerMessages_InCoreAndFunctions_MatchTheContractTable()
    {
        var actual = FindLoggerMessages().Select(e => e.Event).ToList();

        var unexpected = actual.Except(s_expected).Select(e => e.ToString()).Order().ToList();
        var missing = s_expected.Except(actual).Select(e => e.ToString()).Order().ToList();

        Assert.True(unexpected.Count == 0 && missing.Count == 0,
            "The log events differ from the contract table in LogEventContractTests (ids, names and levels are a contract "
            + "with dashboards and alerts; change them only on purpose and update the table with the dashboards).\n"
            + $"In code, not in the table: {(unexpected.Count == 0 ? "none" : string.Join("; ", unexpected))}\n"
            + $"In the table, not in code: {(missing.Count == 0 ? "none" : string.Join("; ", missing))}");
    }

    [Fact]
    public void LoggerMessages_InCoreAndFunctions_HaveUniqueIds()
    {
        var duplicates = FindLoggerMessages()
            .GroupBy(e => e.Event.Id)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(e => e.Method))}")
            .ToList();

        Assert.True(duplicates.Count == 0, $"Event ids used more than once: {string.Join("; ", duplicates)}");
    }

    [Fact]
    public void LoggerMessages_InCoreAndFunctions_HaveUniqueExplicitNames()
    {
        var events = FindLoggerMessages();

        // Without an explicit EventName the generator uses the method name, and a rename would break dashboards.
        Assert.All(events, e => Assert.False(string.IsNullOrEmpty(e.Event.Name), $"{e.Method} has no explicit EventName"));
        var duplicates = events.GroupBy(e => e.Event.Name).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"Event names used more than once: {string.Join(", ", duplicates)}");
    }

    [Fact]
    public void ContractTable_HasUniqueIdsAndNames()
    {
        Assert.Equal(s_expected.Length, s_expected.Select(e => e.Id).Distinct().Count());
        Assert.Equal(s_expected.Length, s_expected.Select(e => e.Name).Distinct().Count());
    }

    [Theory]
    [InlineData(typeof(LogEventIds), Core)]
    [InlineData(typeof(FunctionsLogEventIds), Functions)]
    public void EventIdConstants_EachNamedAfterItsEvent_CoverEveryEventOfTheAssembly(Type constants, string assembly)
    {
        var declared = constants.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(int))
            .Select(f => (Name: f.Name, Id: (int)f.GetRawConstantValue()!))
            .Order()
            .ToList();
        var events = s_expected.Where(e => e.Assembly == assembly).Select(e => (Name: e.Name!, e.Id)).Order().ToList();

        Assert.Equal(events, declared);
    }

    private static List<(LogEvent Event, string Method)> FindLoggerMessages() =>
        s_scanned
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .Select(x => (
                new LogEvent(x.Method.DeclaringType!.Assembly.GetName().Name!, x.Attribute!.EventId, x.Attribute.EventName, x.Attribute.Level),
                $"{x.Method.DeclaringType.FullName}.{x.Method.Name}"))
            .ToList();

    private sealed record LogEvent(string Assembly, int Id, string? Name, LogLevel Level)
    {
        public override string ToString() => $"{Id} {Name} {Level} in {Assembly}";
    }
}
