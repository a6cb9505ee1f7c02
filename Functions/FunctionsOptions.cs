using Microsoft.Extensions.Options;
using NCrontab;

namespace NexusArchive.Functions;

/// <summary>Settings only the Functions app has (top-level app settings, not a section).</summary>
public sealed class FunctionsOptions
{
    /// <summary>The app setting the archive timer reads as <c>%ArchiveSchedule%</c>.</summary>
    public const string ArchiveScheduleSetting = "ArchiveSchedule";

    /// <summary>The app setting the verify timer reads as <c>%VerifySchedule%</c>.</summary>
    public const string VerifyScheduleSetting = "VerifySchedule";

    /// <summary>The app setting the offload timer reads as <c>%OffloadSchedule%</c>.</summary>
    public const string OffloadScheduleSetting = "OffloadSchedule";

    /// <summary>The app setting the queue trigger reads as <c>%ArchiveQueueName%</c>.</summary>
    public const string ArchiveQueueNameSetting = "ArchiveQueueName";

    /// <summary>
    /// The connection of the archive queue: the setting <c>ArchiveQueue</c> (a connection string; locally
    /// <c>UseDevelopmentStorage=true</c>) or, with a managed identity, <c>ArchiveQueue__queueServiceUri</c>
    /// (plus <c>ArchiveQueue__credential=managedidentity</c>).
    /// </summary>
    public const string ArchiveQueueConnection = "ArchiveQueue";

    /// <summary>The setting that turns the queue trigger off (the host's own switch); our checks skip the queue then.</summary>
    public const string ArchiveQueueDisabledSetting = "AzureWebJobs.ArchiveQueuedRecords.Disabled";

    /// <summary>
    /// The app setting the fan-out queue is named by (<c>%ArchiveShardQueueName%</c>): the archive timer's queue output
    /// and <c>ArchiveShardPass</c>'s trigger, on the <see cref="ArchiveQueueConnection"/> connection.
    /// </summary>
    public const string ArchiveShardQueueNameSetting = "ArchiveShardQueueName";

    /// <summary>The fan-out queue's name in the sample and infra.</summary>
    public const string DefaultArchiveShardQueueName = "nexus-archive-shards";

    /// <summary>
    /// The setting that turns <c>ArchiveShardPass</c> off (the host's own switch); the archive timer then works every
    /// stream itself instead of enqueueing.
    /// </summary>
    public const string ArchiveShardQueueDisabledSetting = "AzureWebJobs.ArchiveShardPass.Disabled";

    /// <summary>Six-field NCRONTAB: <c>{second} {minute} {hour} {day} {month} {day-of-week}</c>, e.g. <c>0 */5 * * * *</c>.</summary>
    public string? ArchiveSchedule { get; set; }

    /// <summary>Six-field NCRONTAB of the incremental verify (<c>ArchiveVerifyTimer</c>), e.g. <c>0 15 * * * *</c> (hourly).</summary>
    public string? VerifySchedule { get; set; }

    /// <summary>
    /// Six-field NCRONTAB of the offload timer (<c>ArchiveOffloadTimer</c>), e.g. <c>0 30 3 * * *</c> (daily at 03:30 UTC).
    /// Checked like the others even while <c>Archive:Offload:Enabled</c> is false: the host refuses the function either way.
    /// </summary>
    public string? OffloadSchedule { get; set; }

    /// <summary>The Storage queue of record events (<c>ArchiveQueuedRecords</c>), e.g. <c>nexus-archive-records</c>.</summary>
    public string? ArchiveQueueName { get; set; }

    /// <summary>Whether <c>ArchiveQueue</c> or <c>ArchiveQueue__queueServiceUri</c>/<c>__serviceUri</c>/<c>__accountName</c> is set.</summary>
    public bool ArchiveQueueConnectionConfigured { get; set; }

    /// <summary>Whether the queue trigger is switched off (<see cref="ArchiveQueueDisabledSetting"/>).</summary>
    public bool ArchiveQueueDisabled { get; set; }

    /// <summary>The Storage queue of the fan-out over shards (<c>ArchiveShardPass</c>), e.g. <c>nexus-archive-shards</c>.</summary>
    public string? ArchiveShardQueueName { get; set; }

    /// <summary>Whether <c>ArchiveShardPass</c> is switched off (<see cref="ArchiveShardQueueDisabledSetting"/>): the timer then does every pass itself.</summary>
    public bool ArchiveShardQueueDisabled { get; set; }
}

/// <summary>
/// Checks <c>ArchiveSchedule</c>, <c>VerifySchedule</c> and <c>OffloadSchedule</c> with the parser the host's timer extension uses (NCrontab,
/// seconds included), so every expression the host would refuse (and then silently disable the timer for) is caught by
/// us with a message naming the setting. Stricter than the host in one place: the host also reads a five-field
/// expression (no seconds), which turns the sample's <c>0 */5 * * * *</c> with one field dropped into "every five
/// hours"; we refuse it. A refused schedule does not stop the worker (see <see cref="ScheduleCheck"/>).
/// </summary>
public sealed class FunctionsOptionsValidator : IValidateOptions<FunctionsOptions>
{
    private static readonly CrontabSchedule.ParseOptions s_withSeconds = new() { IncludingSeconds = true };

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, FunctionsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new[]
        {
            ValidateSchedule(FunctionsOptions.ArchiveScheduleSetting, options.ArchiveSchedule, "0 */5 * * * *"),
            ValidateSchedule(FunctionsOptions.VerifyScheduleSetting, options.VerifySchedule, "0 15 * * * *"),
            ValidateSchedule(FunctionsOptions.OffloadScheduleSetting, options.OffloadSchedule, "0 30 3 * * *"),
        }.OfType<string>().ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Null when <paramref name="schedule"/> is one the host accepts as meant; else the problem, naming <paramref name="setting"/>.</summary>
    public static string? ValidateSchedule(string setting, string? schedule, string example)
    {
        if (string.IsNullOrWhiteSpace(schedule))
        {
            return $"{setting} is missing: set a six-field NCRONTAB expression such as '{example}' (app setting {setting}).";
        }

        var fields = schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        if (fields != 6)
        {
            var hint = fields == 5 ? " The host would read five fields as minute hour day month day-of-week (no seconds), which is rarely what was meant." : string.Empty;
            return $"{setting} '{schedule}' has {fields} fields; NCRONTAB needs six: second minute hour day month day-of-week (e.g. '{example}').{hint}";
        }

        try
        {
            CrontabSchedule.Parse(schedule, s_withSeconds);
            return null;
        }
        catch (CrontabException ex)
        {
            // NCrontab's message names the field and the value it refused ("'99' is not a valid [Second] crontab field value…").
            return $"{setting} '{schedule}' is not a valid NCRONTAB expression: {FirstSentence(ex.Message)}";
        }
    }

    /// <summary>
    /// Null when the queue settings are usable (or the queue trigger is switched off); else the problem, naming the setting.
    /// Storage's queue-name rules: 3-63 characters of lower-case letters, digits and single hyphens, starting and ending
    /// with a letter or digit.
    /// </summary>
    public static string? ValidateQueue(FunctionsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ArchiveQueueDisabled)
        {
            return null;
        }

        const string off = $" (or set {FunctionsOptions.ArchiveQueueDisabledSetting}=true to switch the queue trigger off)";
        var name = options.ArchiveQueueName;
        if (string.IsNullOrWhiteSpace(name))
        {
            return $"{FunctionsOptions.ArchiveQueueNameSetting} is missing: name the Storage queue of record events, e.g. 'nexus-archive-records'{off}.";
        }

        if (!IsQueueName(name))
        {
            return $"{FunctionsOptions.ArchiveQueueNameSetting} '{name}' is not a Storage queue name: 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit.";
        }

        if (!options.ArchiveQueueConnectionConfigured)
        {
            return $"{FunctionsOptions.ArchiveQueueConnection} is missing: set it to the storage connection string (locally 'UseDevelopmentStorage=true') or set {FunctionsOptions.ArchiveQueueConnection}__queueServiceUri with {FunctionsOptions.ArchiveQueueConnection}__credential=managedidentity{off}.";
        }

        return null;
    }

    /// <summary>
    /// Null when the fan-out queue's settings are usable (or <c>ArchiveShardPass</c> is switched off); else the problem,
    /// naming the setting. The archive timer fans out only when this is null and otherwise works every stream itself:
    /// under the host, a timer that returns messages while <c>%ArchiveShardQueueName%</c> does not resolve fails its
    /// invocation after the worker returned ("'%ArchiveShardQueueName%' does not resolve to a value"; docs/functions.md),
    /// and <c>ArchiveShardPass</c> fails indexing.
    /// </summary>
    public static string? ValidateShardQueue(FunctionsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ArchiveShardQueueDisabled)
        {
            return null;
        }

        const string off = $" Until then the archive timer works every stream itself (or set {FunctionsOptions.ArchiveShardQueueDisabledSetting}=true to switch the fan-out off).";
        var name = options.ArchiveShardQueueName;
        if (string.IsNullOrWhiteSpace(name))
        {
            return $"{FunctionsOptions.ArchiveShardQueueNameSetting} is missing: name the Storage queue of the fan-out over shards, e.g. '{FunctionsOptions.DefaultArchiveShardQueueName}'; the host does not index ArchiveShardPass without it.{off}";
        }

        if (!IsQueueName(name))
        {
            return $"{FunctionsOptions.ArchiveShardQueueNameSetting} '{name}' is not a Storage queue name: 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit.{off}";
        }

        if (string.Equals(name, options.ArchiveQueueName, StringComparison.Ordinal))
        {
            return $"{FunctionsOptions.ArchiveShardQueueNameSetting} '{name}' is the queue of record events ({FunctionsOptions.ArchiveQueueNameSetting}); the fan-out needs a queue of its own, e.g. '{FunctionsOptions.DefaultArchiveShardQueueName}'.{off}";
        }

        if (!options.ArchiveQueueConnectionConfigured)
        {
            return $"{FunctionsOptions.ArchiveQueueConnection} is missing: the fan-out queue {FunctionsOptions.ArchiveShardQueueNameSetting} uses that connection; set it to the storage connection string (locally 'UseDevelopmentStorage=true') or set {FunctionsOptions.ArchiveQueueConnection}__queueServiceUri with {FunctionsOptions.ArchiveQueueConnection}__credential=managedidentity.{off}";
        }

        return null;
    }

    /// <summary>Storage's queue-name rules: 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit.</summary>
    private static bool IsQueueName(string name) =>
        name.Length is >= 3 and <= 63 && name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')
        && name[0] != '-' && name[^1] != '-' && !name.Contains("--", StringComparison.Ordinal);

    private static string FirstSentence(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        return (end < 0 ? message : message[..end]).Trim();
    }
}
