namespace NexusArchive.Core.Diagnostics;

/// <summary>
/// The event id of every log event Core writes, in one place. Ids and event names are a contract with dashboards and
/// alerts (docs/functions.md, infra/main.bicep): never change or reuse one. Tests/Unit/LogEventContractTests.cs pins
/// every id with its name and level. The Functions app owns 2000-2099 (<c>FunctionsLogEventIds</c>).
/// </summary>
internal static class LogEventIds
{
    // 1000-1099: archive runs, migrations, demo data (Log.cs).
    public const int RunStarted = 1000;
    public const int RunFinished = 1001;
    public const int RunFailed = 1002;
    public const int EntityBusy = 1003;
    public const int RunStoppedEarly = 1004;
    public const int PageCommitted = 1005;
    public const int RecordsVanished = 1006;
    public const int RecordDeadLettered = 1007;
    public const int RowRejected = 1008;
    public const int CheckpointMirrorFailed = 1009;
    public const int RunHistoryFailed = 1010;
    public const int LeaseReleaseFailed = 1011;
    public const int LeaseLost = 1012;
    public const int LeaseRenewalFailed = 1013;
    public const int LateWritesDrained = 1014;
    public const int RecordsArchived = 1015;
    public const int RecordEventRejected = 1016;
    public const int StreamDrained = 1017;
    public const int Resharded = 1018;
    public const int MigrationApplied = 1020;
    public const int SearchLanguageApplied = 1021;
    public const int SearchIndexBuilt = 1022;
    public const int SearchIndexDropped = 1023;
    public const int SearchIndexBusy = 1024;
    public const int DemoSeeded = 1030;

    // 3000-3099: verify, restore, backfill, offload, export and erase (Log.cs).
    public const int VerifyEntityFinished = 3000;
    public const int VerifyFoundProblems = 3001;
    public const int VerificationFinished = 3002;
    public const int IncrementalVerifyEntityFinished = 3003;
    public const int VerificationFailed = 3004;
    public const int VerificationHistoryFailed = 3005;
    public const int RestoreEntityFinished = 3010;
    public const int RestoreRecordRefused = 3011;
    public const int BackfillResumed = 3020;
    public const int BackfillEntityFinished = 3021;
    public const int BackfillInterrupted = 3022;
    public const int BackfillCheckpointRewound = 3023;
    public const int BackfillRewindBlocked = 3024;
    public const int OffloadStarted = 3030;
    public const int OffloadProgress = 3031;
    public const int OffloadFinished = 3032;
    public const int OffloadHistoryFailed = 3033;
    public const int OffloadMarkersCleared = 3034;
    public const int UserExported = 3040;
    public const int UserErased = 3041;

    // 4000-4099: resilience and dead letters (Log.Resilience.cs).
    public const int RetryScheduled = 4000;
    public const int CircuitOpened = 4001;
    public const int CircuitClosed = 4002;
    public const int DeadLetterReplayed = 4003;
    public const int DeadLettersDiscarded = 4004;

    // 5000-5099: security (Log.Security.cs).
    public const int SafetyCheckPassed = 5000;
    public const int SafetyCheckDisabled = 5001;
    public const int RoleBypassesRls = 5002;
    public const int SafetyCheckFailed = 5003;
    public const int OwnerClaimConfigured = 5004;
}
