namespace NexusArchive.Core.Configuration;

/// <summary>
/// Settings of the archive pipeline, bound from the <c>Archive</c> section
/// (environment: <c>Archive__PageSize</c>, …). Validated at start-up by <see cref="ArchiveOptionsValidator"/>, the one place that holds every rule and range.
/// </summary>
public sealed class ArchiveOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Archive";

    /// <summary>Prefix of every Redis key NexusChat writes and we read (<c>nexus</c> → <c>nexus:message:{id}</c>).</summary>
    public string KeyPrefix { get; set; } = "nexus";

    /// <summary>Records read from a change index and written to PostgreSQL per transaction.</summary>
    public int PageSize { get; set; } = 2000;

    /// <summary>Pages read and mapped ahead while earlier pages are written (bounds memory to about this many pages + 1).</summary>
    public int PipelineDepth { get; set; } = 2;

    /// <summary>
    /// COPY the next page on a second connection while the current page's MERGE commits, so a page waits for one
    /// PostgreSQL round trip instead of four (pays against a remote PostgreSQL; docs/performance.md).
    /// </summary>
    public bool StageAhead { get; set; } = true;

    /// <summary>Only records whose change score is older than Redis-now minus this window are read, so late writers settle first.</summary>
    public TimeSpan SettleWindow { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Every pass re-reads this far behind the checkpoint to catch writers whose timestamps landed behind it.</summary>
    public TimeSpan LookbackOverlap { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Quiet passes (on by default): skip re-reading the look-back overlap when the entity's write counter
    /// (<c>{prefix}:writes:{entity}</c>, the Lua writer's third key) and the checkpoint are unchanged since this process's
    /// last successful pass, so a pass with nothing to do costs a few commands instead of a scan of the overlap. Safe by
    /// default because every write through the writer counts and late writes are drained from the late set; a write that
    /// bypasses the writer is still re-read by the next pass after any counted write (or in a new process), and the
    /// scheduled incremental verify reports it. Turn off to re-read the overlap on every pass.
    /// </summary>
    public bool QuietPasses { get; set; } = true;

    /// <summary>A pass stops between pages once it has run this long and reports <c>partial</c>.</summary>
    public TimeSpan TimeBudget { get; set; } = TimeSpan.FromMinutes(8);

    /// <summary>How long an entity lease lives without being renewed by a committed page (a crashed pass releases it by expiry).</summary>
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The longest a pass waits for its closing bookkeeping (releasing a lease, recording the run's outcome), also after
    /// the caller cancelled: history must say how the pass ended, but a dead database must not hold the host.
    /// </summary>
    public TimeSpan BookkeepingTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Records stamped further than this in the future (Redis clock) are dead-lettered instead of waiting forever.</summary>
    public TimeSpan FutureTolerance { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Schema of the archive tables (Supabase: <c>public</c>).</summary>
    public string TargetSchema { get; set; } = "public";

    /// <summary>Private schema for checkpoints, run history, dead letters and migrations.</summary>
    public string BookkeepingSchema { get; set; } = "nexus_archive";

    /// <summary>
    /// The PostgreSQL text search configuration of message search (migration 0007: <c>search_messages</c>, and the
    /// opt-in index of <see cref="SearchIndex"/>). <c>simple</c> (the default) does no stemming and knows no
    /// stop words, which suits NexusChat's multilingual chats; a single-language archive may choose that language
    /// (<c>english</c>, <c>german</c>, …) for stemming. One of <see cref="SearchLanguages.BuiltIn"/>. Changing it later
    /// makes the next <c>migrate</c> replace <c>search_messages</c> (and rebuild the opt-in index) (docs/queries.md).
    /// </summary>
    public string SearchLanguage { get; set; } = SearchLanguages.Default;

    /// <summary>
    /// Opt in to a GIN full-text index on <c>messages.content</c> for searches that bypass Row Level Security
    /// (service_role, the owner: across users). Off by default: it does not serve a signed-in user's search (under RLS
    /// PostgreSQL reads that user's messages through the <c>user_id</c> index) and it makes every archived message cost
    /// several times more to write. <c>migrate</c> builds it with <c>CREATE INDEX CONCURRENTLY</c> when true and drops it
    /// when false (docs/queries.md).
    /// </summary>
    public bool SearchIndex { get; set; }

    /// <summary>Apply pending migrations when the host starts (the CLI's <c>migrate</c> does it on demand).</summary>
    public bool MigrateOnStartup { get; set; }

    /// <summary>The entities a pass archives when the caller names none; empty = all four.</summary>
    public List<string> Entities { get; set; } = [];

    /// <summary>
    /// The shard count the operator wants per entity (<c>Archive:Shards:message = 8</c>; absent = 1). It is applied by
    /// <c>nexus-archive reshard</c>, never by a pass: the live count is the one in Redis (<c>{prefix}:archive:shards</c>),
    /// which the writers read, and status shows where the two differ (docs/scaling.md).
    /// </summary>
    public Dictionary<string, int> Shards { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Sign in to PostgreSQL with an Entra ID token (managed identity in Azure, developer credentials locally) instead
    /// of a password: <c>ConnectionStrings:Postgres</c> then names the Entra user and no password.
    /// </summary>
    public bool PostgresUseManagedIdentity { get; set; }

    /// <summary>How many past runs <c>status</c> shows.</summary>
    public int StatusRunCount { get; set; } = 10;

    /// <summary>Bounds of one run of the incremental verify (<c>Archive:Verify</c>).</summary>
    public VerifyOptions Verify { get; set; } = new();
}
