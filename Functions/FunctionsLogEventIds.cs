namespace NexusArchive.Functions;

/// <summary>
/// The event id of every log event the Functions app writes (2000-2099), in one place. Ids and event names are a
/// contract with dashboards and alerts (docs/functions.md, infra/main.bicep): never change or reuse one.
/// Tests/Unit/LogEventContractTests.cs pins every id with its name and level. Core's ids are in <c>LogEventIds</c>.
/// </summary>
internal static class FunctionsLogEventIds
{
    // 2000-2009: timer and start-up.
    public const int TimerFired = 2000;
    public const int TimerConflict = 2001;
    public const int TimerRunFailed = 2002;
    public const int ArchiveScheduleInvalid = 2003;
    public const int StartupMigrationApplied = 2004;
    public const int StartupMigrationFailed = 2005;
    public const int NeedsAttention = 2006;
    public const int VerifyScheduleInvalid = 2007;
    public const int OffloadScheduleInvalid = 2008;

    // 2010-2019: HTTP kick.
    public const int KickReceived = 2010;
    public const int KickRejected = 2011;
    public const int KickAnswered = 2012;

    // 2020-2029: verify timer.
    public const int VerifyTimerFired = 2020;
    public const int VerifyTimerFailed = 2021;

    // 2030-2039: offload timer.
    public const int OffloadTimerFired = 2030;
    public const int OffloadDisabled = 2031;
    public const int OffloadTimerRefused = 2032;

    // 2040-2049: session restore (HTTP).
    public const int SessionRestoreAnswered = 2040;

    // 2050-2059: queued record events.
    public const int ArchiveQueueInvalid = 2050;

    // 2060-2069: fan-out over shards (the timer enqueues, ArchiveShardPass works one stream).
    public const int ShardsEnqueued = 2060;
    public const int ShardPlanFailed = 2061;
    public const int ShardPassConflict = 2062;
    public const int ShardPassFailed = 2063;
    public const int ShardMessageInvalid = 2064;
    public const int ShardQueueInvalid = 2065;
}
