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

    /// <summary>Six-field NCRONTAB: <c>{second} {minute} {hour} {day} {month} {day-of-week}</c>, e.g. <c>0 */5 * * * *</c>.</summary>
    public string? ArchiveSchedule { get; set; }

    /// <summary>Six-field NCRONTAB of the incremental verify (<c>ArchiveVerifyTimer</c>), e.g. <c>0 15 * * * *</c> (hourly).</summary>
    public string? VerifySchedule { get; set; }

    /// <summary>
    /// Six-field NCRONTAB of the offload timer (<c>ArchiveOffloadTimer</c>), e.g. <c>0 30 3 * * *</c> (daily at 03:30 UTC).
    /// Checked like the others even while <c>Archive:Offload:Enabled</c> is false: the host refuses the function either way.
    /// </summary>
    public string? OffloadSchedule { get; set; }
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

    private static string FirstSentence(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        return (end < 0 ? message : message[..end]).Trim();
    }
}
