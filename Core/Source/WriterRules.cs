using System.Globalization;
using System.Text;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;

namespace NexusArchive.Core.Source;

/// <summary>
/// Renders the per-entity rules of the record writer (<c>write-record.lua</c>) from the entity descriptors, so the writer
/// refuses at write time what the mapper would dead-letter, from the same facts: required fields, column kinds, allowed
/// values. The shipped script carries the rendered block between <see cref="BeginMarker"/> and <see cref="EndMarker"/>;
/// a test fails when the two disagree and tells how to regenerate the block. The TypeScript client
/// (<c>clients/typescript</c>) gets the same rules as a generated module (WriterRules.TypeScript.cs).
/// </summary>
internal static partial class WriterRules
{
    public const string BeginMarker = "-- BEGIN GENERATED WRITER RULES";
    public const string EndMarker = "-- END GENERATED WRITER RULES";

    /// <summary>The environment variable that makes the rules test rewrite the script's block instead of failing.</summary>
    public const string RegenerateVariable = "NEXUS_REGENERATE_WRITER_RULES";

    /// <summary>The command that rewrites the block in the repository's script.</summary>
    public const string RegenerateCommand =
        RegenerateVariable + "=1 dotnet test Tests -c Release --filter FullyQualifiedName~WriterRulesTests";

    /// <summary>The earliest timestamp the writer accepts: <see cref="TimestampParser.Earliest"/>, which the mapper holds too.</summary>
    public static DateTimeOffset Earliest => TimestampParser.Earliest;

    /// <summary>
    /// How far ahead of the Redis clock the writer accepts a timestamp: the default of <c>Archive:FutureTolerance</c>,
    /// beyond which a pass would dead-letter the record as <c>future_timestamp</c>.
    /// </summary>
    public static TimeSpan MaxAhead { get; } = new ArchiveOptions().FutureTolerance;

    /// <summary>Fields the script itself sets on every write: <c>id</c> from ARGV[1], <c>updatedAt</c> from the final score.</summary>
    public static IReadOnlySet<string> SetByWriter { get; } = new HashSet<string>(StringComparer.Ordinal) { "id", "updatedAt" };

    private static readonly HashSet<string> s_luaKeywords = new(StringComparer.Ordinal)
    {
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in", "local", "nil", "not", "or",
        "repeat", "return", "then", "true", "until", "while",
    };

    /// <summary>The Lua block, markers included, for the given entities.</summary>
    public static string Render(IReadOnlyList<EntityDescriptor> entities)
    {
        ArgumentNullException.ThrowIfNull(entities);
        var lua = new StringBuilder();
        lua.Append(BeginMarker).Append('\n');
        lua.Append("-- Rendered by Core/Source/WriterRules.cs from the entity descriptors (Core/Entities); do not edit by hand.\n");
        lua.Append("-- Regenerate: ").Append(RegenerateCommand).Append('\n');
        lua.Append("-- Timestamps must lie between EARLIEST_MS and the Redis clock + MAX_AHEAD_MS (Archive:FutureTolerance's default).\n");
        lua.Append("local EARLIEST_MS = ").Append(Earliest.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)).Append('\n');
        lua.Append("local EARLIEST_TEXT = ").Append(Quote(Earliest.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))).Append('\n');
        lua.Append("local MAX_AHEAD_MS = ").Append(((long)MaxAhead.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)).Append('\n');
        lua.Append("local MAX_AHEAD_TEXT = ").Append(Quote(Describe(MaxAhead))).Append('\n');
        lua.Append("local ENTITY_NAMES = ").Append(Quote(string.Join(", ", entities.Select(e => e.Name).Order(StringComparer.Ordinal)))).Append('\n');
        lua.Append("-- The rules of one entity: the fields a new record (or a replace) must carry, the kind of every required or typed\n");
        lua.Append("-- field, and allowed values. Other fields (unknown ones land in the archive's extra column) take any text without NUL.\n");
        lua.Append("-- A function, so that a write builds the tables of its own entity only.\n");
        lua.Append("local function entity_rules(entity)\n");
        foreach (var entity in entities)
        {
            var columns = entity.Columns.Where(c => !SetByWriter.Contains(c.Field)).ToList();
            var checkedColumns = columns.Where(c => c.Kind != ColumnKind.Text || c.Required || c.AllowedValues is not null).ToList();
            lua.Append("  if entity == ").Append(Quote(entity.Name)).Append(" then\n");
            lua.Append("    return {\n");
            lua.Append("      required = { ").AppendJoin(", ", columns.Where(c => c.Required).Select(c => Quote(c.Field))).Append(" },\n");
            lua.Append("      kinds = { ").AppendJoin(", ", checkedColumns.Select(c => $"{Key(c.Field)} = {Quote(KindName(c.Kind))}")).Append(" },\n");
            var enumerations = checkedColumns.Where(c => c.AllowedValues is not null).ToList();
            if (enumerations.Count > 0)
            {
                lua.Append("      allowed = { ")
                    .AppendJoin(", ", enumerations.Select(c => $"{Key(c.Field)} = {{ {string.Join(", ", c.AllowedValues!.Select(Quote))} }}"))
                    .Append(" },\n");
            }

            lua.Append("    }\n");
            lua.Append("  end\n");
        }

        lua.Append("  return nil\n");
        lua.Append("end\n");
        lua.Append(EndMarker).Append('\n');
        return lua.ToString();
    }

    /// <summary>The block between the markers (markers included), or null when the script has no complete block.</summary>
    public static string? ExtractBlock(string script)
    {
        ArgumentNullException.ThrowIfNull(script);
        var (start, end) = Locate(script);
        return start < 0 ? null : script[start..end];
    }

    /// <summary>The script with its block replaced by <paramref name="block"/>.</summary>
    /// <exception cref="InvalidOperationException">The script has no complete block.</exception>
    public static string ReplaceBlock(string script, string block)
    {
        ArgumentNullException.ThrowIfNull(script);
        var (start, end) = Locate(script);
        if (start < 0)
        {
            throw new InvalidOperationException($"The script has no '{BeginMarker}' … '{EndMarker}' block.");
        }

        return string.Concat(script.AsSpan(0, start), block, script.AsSpan(end));
    }

    private static (int Start, int End) Locate(string script)
    {
        var start = script.IndexOf(BeginMarker, StringComparison.Ordinal);
        var endMarker = start < 0 ? -1 : script.IndexOf(EndMarker, start, StringComparison.Ordinal);
        if (endMarker < 0)
        {
            return (-1, -1);
        }

        var end = endMarker + EndMarker.Length;
        if (end < script.Length && script[end] == '\n')
        {
            end++;
        }

        return (start, end);
    }

    private static string KindName(ColumnKind kind) => kind switch
    {
        ColumnKind.Text => "text",
        ColumnKind.Timestamp => "timestamp",
        ColumnKind.Integer => "integer",
        ColumnKind.JsonObject => "json",
        _ => throw new InvalidOperationException($"The writer has no rule for column kind {kind}: teach write-record.lua and WriterRules about it."),
    };

    private static string Describe(TimeSpan span) => span switch
    {
        { TotalDays: 1 } => "1 day",
        _ when span.Ticks % TimeSpan.TicksPerDay == 0 => $"{span.TotalDays.ToString(CultureInfo.InvariantCulture)} days",
        _ when span.Ticks % TimeSpan.TicksPerHour == 0 => $"{span.TotalHours.ToString(CultureInfo.InvariantCulture)} hours",
        _ => $"{span.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)} ms",
    };

    private static string Key(string name) =>
        IsLuaName(name) ? name : "[" + Quote(name) + "]";

    private static bool IsLuaName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') && !s_luaKeywords.Contains(name);

    private static string Quote(string text)
    {
        var quoted = new StringBuilder(text.Length + 2).Append('\'');
        foreach (var c in text)
        {
            _ = c switch
            {
                '\\' => quoted.Append(@"\\"),
                '\'' => quoted.Append(@"\'"),
                < ' ' or '\x7f' => quoted.Append('\\').Append(((int)c).ToString("D3", CultureInfo.InvariantCulture)),
                _ => quoted.Append(c),
            };
        }

        return quoted.Append('\'').ToString();
    }
}
