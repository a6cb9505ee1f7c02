using Microsoft.Extensions.Options;

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
/// Checks <c>ArchiveSchedule</c> at start-up, so a bad schedule stops the host with a message naming the setting
/// instead of a timer that never fires. A shape check (six fields of cron characters); the host's NCRONTAB parser
/// has the last word on ranges.
/// </summary>
public sealed class FunctionsOptionsValidator : IValidateOptions<FunctionsOptions>
{
    private const string AllowedCharacters = "0123456789*,-/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, FunctionsOptions options)
    {
        const string S = FunctionsOptions.ArchiveScheduleSetting;
        var schedule = options.ArchiveSchedule;
        if (string.IsNullOrWhiteSpace(schedule))
        {
            return ValidateOptionsResult.Fail($"{S} is missing: set a six-field NCRONTAB expression such as '0 */5 * * * *' (app setting {S}).");
        }

        var fields = schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (fields.Length != 6)
        {
            return ValidateOptionsResult.Fail(
                $"{S} '{schedule}' has {fields.Length} fields; NCRONTAB needs six: second minute hour day month day-of-week (e.g. '0 */5 * * * *').");
        }

        var bad = fields.FirstOrDefault(f => f.Any(c => !AllowedCharacters.Contains(c, StringComparison.Ordinal)));
        return bad is null
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"{S} '{schedule}': field '{bad}' is not a cron field (digits, '*', ',', '-', '/', or names).");
    }
}
