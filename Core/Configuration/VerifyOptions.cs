namespace NexusArchive.Core.Configuration;

/// <summary>
/// Bounds of one run of the incremental verify (the Functions timer <c>ArchiveVerifyTimer</c>, CLI <c>verify --since</c>),
/// bound from <c>Archive:Verify</c> (environment: <c>Archive__Verify__MaxRecordsPerRun</c>, …). Both apply per entity
/// and per run, so a run's cost stays bounded however large the data set; see docs/operations.md.
/// </summary>
public sealed class VerifyOptions
{
    /// <summary>The largest value either bound accepts.</summary>
    public const int MaxPerRun = 10_000_000;

    /// <summary>
    /// Change-index entries checked per entity and run: the records changed since the last verified point, oldest
    /// first. A backlog larger than this is worked off over several runs.
    /// </summary>
    public int MaxRecordsPerRun { get; set; } = 50_000;

    /// <summary>
    /// Record keys checked per entity and run by the rolling keyspace slice: a SCAN cursor continued from run to run,
    /// which finds records written around the record writer (never in the change index, or with a stale score). One
    /// walk of the keyspace takes about (records of the entity ÷ this) runs.
    /// </summary>
    public int ScanKeysPerRun { get; set; } = 20_000;
}
