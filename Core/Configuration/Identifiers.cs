using System.Text.RegularExpressions;

namespace NexusArchive.Core.Configuration;

/// <summary>
/// Validation of configuration values that become part of SQL text or Redis key names.
/// Only identifiers that pass these checks are ever spliced into SQL (always double-quoted);
/// every data value travels as a parameter.
/// </summary>
internal static partial class Identifiers
{
    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex SqlIdentifierPattern();

    // At most one Redis Cluster hash tag ({nexus}); braces are not glob characters in SCAN MATCH.
    [GeneratedRegex("^(?=.{1,64}\\z)[A-Za-z0-9_.\\-]*(\\{[A-Za-z0-9_.\\-]+\\})?[A-Za-z0-9_.\\-]*\\z", RegexOptions.CultureInvariant)]
    private static partial Regex KeyPrefixPattern();

    /// <summary>A lower-case PostgreSQL identifier: letters, digits, underscore, at most 63 characters.</summary>
    public static bool IsSqlIdentifier(string? value) => value is not null && SqlIdentifierPattern().IsMatch(value);

    /// <summary>
    /// A Redis key prefix: 1–64 characters of letters, digits, <c>_ . -</c> and at most one non-empty hash tag such as
    /// <c>{nexus}</c> (so that on Redis Cluster every key of the layout hashes to one slot); no <c>:</c> or glob characters.
    /// </summary>
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
