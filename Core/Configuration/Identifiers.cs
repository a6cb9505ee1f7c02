using System.Text.RegularExpressions;

namespace NexusArchive.Core.Configuration;

/// <summary>
/// Validation of configuration values that become part of SQL text or Redis key names.
/// Only identifiers that pass these checks are ever spliced into SQL (always double-quoted);
/// every data value travels as a parameter.
/// </summary>
public static partial class Identifiers
{
    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex SqlIdentifierPattern();

    [GeneratedRegex("^[A-Za-z0-9_.\\-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex KeyPrefixPattern();

    /// <summary>A lower-case PostgreSQL identifier: letters, digits, underscore, at most 63 characters.</summary>
    public static bool IsSqlIdentifier(string? value) => value is not null && SqlIdentifierPattern().IsMatch(value);

    /// <summary>A Redis key prefix: letters, digits, <c>_ . -</c>, at most 64 characters, no <c>:</c> or glob characters.</summary>
    public static bool IsKeyPrefix(string? value) => value is not null && KeyPrefixPattern().IsMatch(value);

    /// <summary>Double-quotes a validated identifier for SQL text.</summary>
    public static string Quote(string identifier)
    {
        if (!IsSqlIdentifier(identifier))
        {
            throw new ArgumentException($"'{identifier}' is not a valid SQL identifier.", nameof(identifier));
        }

        return "\"" + identifier + "\"";
    }
}
