namespace NexusArchive.Core.Configuration;

/// <summary>
/// The text search configurations <c>Archive:SearchLanguage</c> may name: the ones PostgreSQL 15 and later ship
/// (<c>SELECT cfgname FROM pg_ts_config</c> on a fresh server, Supabase included). Only a name from this list is ever
/// put into SQL text, and only as a quoted literal (<see cref="Literal"/>).
/// </summary>
internal static class SearchLanguages
{
    /// <summary>The default: <c>simple</c> lower-cases and splits words, with no stemming and no stop words, so it treats every language alike.</summary>
    public const string Default = "simple";

    /// <summary>Every built-in configuration, in alphabetical order.</summary>
    public static IReadOnlyList<string> BuiltIn { get; } =
    [
        "arabic", "armenian", "basque", "catalan", "danish", "dutch", "english", "finnish", "french", "german", "greek",
        "hindi", "hungarian", "indonesian", "irish", "italian", "lithuanian", "nepali", "norwegian", "portuguese",
        "romanian", "russian", "serbian", "simple", "spanish", "swedish", "tamil", "turkish", "yiddish",
    ];

    /// <summary>Whether <paramref name="value"/> is exactly one of <see cref="BuiltIn"/> (lower case).</summary>
    public static bool IsBuiltIn(string? value) => value is not null && BuiltIn.Contains(value, StringComparer.Ordinal);

    /// <summary>The configuration as a SQL string literal (<c>'simple'</c>), for <c>{{search_language}}::regconfig</c> in migrations.</summary>
    public static string Literal(string language)
    {
        if (!IsBuiltIn(language))
        {
            throw new ArgumentException($"'{language}' is not a built-in text search configuration.", nameof(language));
        }

        return "'" + language + "'";
    }
}
