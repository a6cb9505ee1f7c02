using Microsoft.Extensions.Options;
using NCrontab;

namespace NexusArchive.Functions;

/// <summary>Settings only the Functions app has (top-level app settings, not a section).</summary>
public sealed class FunctionsOptions
{
    /// <summary>The app setting the timer trigger reads as <c>%ArchiveSchedule%</c>.</summary>
    public const string ArchiveScheduleSetting = "ArchiveSchedule";

    /// <summary>Six-field NCRONTAB: <c>{second} {minute} {hour} {day} {month} {day-of-week}</c>, e.g. <c>0 */5 * * * *</c>.</summary>
    public string? ArchiveSchedule { get; set; }
}

/// <summary>
/// Checks <c>ArchiveSchedule</c> with the parser the host's timer extension uses (NCrontab, seconds included), so every
/// expression the host would refuse (and then silently disable the timer for) is caught by us with a message naming
/// the setting. Stricter than the host in one place: the host also reads a five-field expression (no seconds), which
/// turns the sample's <c>0 */5 * * * *</c> with one field dropped into "every five hours"; we refuse it.
/// A refused schedule does not stop the worker (see <see cref="ArchiveScheduleCheck"/>).
/// </summary>
public sealed class FunctionsOptionsValidator : IValidateOptions<FunctionsOptions>
{
    private static readonly CrontabSchedule.ParseOptions s_withSeconds = new() { IncludingSeconds = true };

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, FunctionsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = FunctionsOptions.ArchiveScheduleSetting;
        var schedule = options.ArchiveSchedule;
        if (string.IsNullOrWhiteSpace(schedule))
        {
            return ValidateOptionsResult.Fail($"{S} is missing: set a six-field NCRONTAB expression such as '0 */5 * * * *' (app setting {S}).");
        }

        var fields = schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        if (fields != 6)
        {
            var hint = fields == 5 ? " The host would read five fields as minute hour day month day-of-week (no seconds), which is rarely what was meant." : string.Empty;
            return ValidateOptionsResult.Fail(
                $"{S} '{schedule}' has {fields} fields; NCRONTAB needs six: second minute hour day month day-of-week (e.g. '0 */5 * * * *').{hint}");
        }

        try
        {
            CrontabSchedule.Parse(schedule, s_withSeconds);
            return ValidateOptionsResult.Success;
        }
        catch (CrontabException ex)
        {
            // NCrontab's message names the field and the value it refused ("'99' is not a valid [Second] crontab field value…").
            return ValidateOptionsResult.Fail($"{S} '{schedule}' is not a valid NCRONTAB expression: {FirstSentence(ex.Message)}");
        }
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        return (end < 0 ? message : message[..end]).Trim();
    }
}
