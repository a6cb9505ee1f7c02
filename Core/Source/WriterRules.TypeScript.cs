using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using NexusArchive.Core.Entities;

namespace NexusArchive.Core.Source;

/// <summary>
/// The TypeScript side of the writer rules: the client package <c>clients/typescript</c> (<c>@nexuschat/archive-writer</c>)
/// validates records before they reach <c>write-record.lua</c> with a module rendered here from the same entity
/// descriptors as the script's rules block, and ships the script itself as a rendered module (text and SHA-1, for
/// <c>EVALSHA</c>) next to a byte-identical copy of the file. Tests fail when the committed files disagree.
/// </summary>
internal static partial class WriterRules
{
    /// <summary>The client package, relative to the repository root.</summary>
    public const string TypeScriptPackagePath = "clients/typescript";

    /// <summary>The rendered rules and record types, relative to the repository root.</summary>
    public const string TypeScriptRulesPath = TypeScriptPackagePath + "/src/generated/rules.ts";

    /// <summary>The rendered script module (text and SHA-1), relative to the repository root.</summary>
    public const string TypeScriptScriptPath = TypeScriptPackagePath + "/src/generated/script.ts";

    /// <summary>The package's byte-identical copy of <c>write-record.lua</c>, relative to the repository root.</summary>
    public const string TypeScriptScriptCopyPath = TypeScriptPackagePath + "/write-record.lua";

    private const string TypeScriptHeader =
        "// Rendered by Core/Source/WriterRules.TypeScript.cs from the entity descriptors (Core/Entities); do not edit by hand.\n"
        + "// Regenerate: " + RegenerateCommand + "\n";

    /// <summary>
    /// The TypeScript module with the writer's rules (the same facts as <see cref="Render"/>'s Lua block) and one record
    /// interface per entity, named after its table (<c>chat_sessions</c> → <c>ChatSession</c>).
    /// </summary>
    public static string RenderTypeScript(IReadOnlyList<EntityDescriptor> entities)
    {
        ArgumentNullException.ThrowIfNull(entities);
        var ts = new StringBuilder();
        ts.Append(TypeScriptHeader);
        ts.Append("// The same rules as the block between \"").Append(BeginMarker).Append("\" and \"").Append(EndMarker).Append("\" in\n");
        ts.Append("// Core/Source/Scripts/write-record.lua, and the archive's mapper.\n");
        ts.Append("import type { IntegerInput, JsonObject, TimeInput } from \"../values.js\";\n\n");
        ts.Append("/** Timestamps must lie between EARLIEST_MS and the Redis clock + MAX_AHEAD_MS (Archive:FutureTolerance's default). */\n");
        ts.Append("export const EARLIEST_MS = ").Append(Earliest.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)).Append(";\n");
        ts.Append("export const EARLIEST_TEXT = ").Append(TsQuote(Earliest.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))).Append(";\n");
        ts.Append("export const MAX_AHEAD_MS = ").Append(((long)MaxAhead.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)).Append(";\n");
        ts.Append("export const MAX_AHEAD_TEXT = ").Append(TsQuote(Describe(MaxAhead))).Append(";\n");
        ts.Append("export const ENTITY_NAMES = ").Append(TsQuote(string.Join(", ", entities.Select(e => e.Name).Order(StringComparer.Ordinal)))).Append(";\n\n");

        ts.Append("/** An archived entity: the `{entity}` of its Redis keys. */\n");
        ts.Append("export type EntityName = ").AppendJoin(" | ", entities.Select(e => TsQuote(e.Name))).Append(";\n\n");
        ts.Append("/** Every entity, in dependency order (parents first). */\n");
        ts.Append("export const ENTITIES: readonly EntityName[] = [").AppendJoin(", ", entities.Select(e => TsQuote(e.Name))).Append("];\n\n");

        ts.Append("/** How a field is checked and sent: text as it is, timestamp as epoch ms, integer as 64-bit decimal, json as an object. */\n");
        ts.Append("export type FieldKind = \"text\" | \"timestamp\" | \"integer\" | \"json\";\n\n");
        ts.Append("/** The rules of one entity. */\n");
        ts.Append("export interface EntityRules {\n");
        ts.Append("  /** Fields a new record (or a replace) must carry, never empty. `id` is checked on its own. */\n");
        ts.Append("  readonly required: readonly string[];\n");
        ts.Append("  /** Every mapped field except those the writer sets (").AppendJoin(", ", SetByWriter.Order(StringComparer.Ordinal).Select(f => "`" + f + "`")).Append("), in column order. Other fields land in `extra`. */\n");
        ts.Append("  readonly kinds: Readonly<Record<string, FieldKind>>;\n");
        ts.Append("  /** Enumerations: the only values accepted (exact comparison). */\n");
        ts.Append("  readonly allowed: Readonly<Record<string, readonly string[]>>;\n");
        ts.Append("}\n\n");
        ts.Append("export const RULES: Readonly<Record<EntityName, EntityRules>> = {\n");
        foreach (var entity in entities)
        {
            var columns = entity.Columns.Where(c => !SetByWriter.Contains(c.Field)).ToList();
            ts.Append("  ").Append(TsKey(entity.Name)).Append(": {\n");
            ts.Append("    required: [").AppendJoin(", ", columns.Where(c => c.Required).Select(c => TsQuote(c.Field))).Append("],\n");
            ts.Append("    kinds: { ").AppendJoin(", ", columns.Select(c => $"{TsKey(c.Field)}: {TsQuote(KindName(c.Kind))}")).Append(" },\n");
            ts.Append("    allowed: {")
                .AppendJoin(",", columns.Where(c => c.AllowedValues is not null).Select(c => $" {TsKey(c.Field)}: [{string.Join(", ", c.AllowedValues!.Select(TsQuote))}]"))
                .Append(columns.Any(c => c.AllowedValues is not null) ? " },\n" : "},\n");
            ts.Append("  },\n");
        }

        ts.Append("};\n");

        foreach (var entity in entities)
        {
            ts.Append('\n');
            ts.Append("/** ").Append("aeiou".Contains(entity.Name[0], StringComparison.Ordinal) ? "An " : "A ").Append(entity.Name).Append(": Redis hash `{prefix}:").Append(entity.Name).Append(":{id}`, archived in `").Append(entity.Table).Append("`. */\n");
            ts.Append("export interface ").Append(TypeName(entity)).Append(" {\n");
            foreach (var column in entity.Columns.Where(c => c.Field != "updatedAt"))
            {
                ts.Append("  /** Column `").Append(column.Column).Append("` (").Append(KindName(column.Kind)).Append(Comment(column)).Append("). */\n");
                ts.Append("  ").Append(TsKey(column.Field)).Append(column.Required ? ": " : "?: ").Append(TsType(column)).Append(";\n");
            }

            ts.Append("}\n");
        }

        ts.Append('\n');
        ts.Append("/** The record type of each entity. */\n");
        ts.Append("export interface EntityRecords {\n");
        foreach (var entity in entities)
        {
            ts.Append("  ").Append(TsKey(entity.Name)).Append(": ").Append(TypeName(entity)).Append(";\n");
        }

        ts.Append("}\n");
        return ts.ToString();
    }

    /// <summary>
    /// The script as a TypeScript module: its exact text (one string per line, joined with <c>\n</c>) and the SHA-1
    /// Redis knows it by, so the package needs no file system and no hashing at run time (edge runtimes included).
    /// </summary>
    public static string RenderTypeScriptScript(string script)
    {
        ArgumentNullException.ThrowIfNull(script);
        var ts = new StringBuilder();
        ts.Append(TypeScriptHeader);
        ts.Append("// Core/Source/Scripts/write-record.lua, byte for byte (the package also ships it as write-record.lua).\n\n");
        ts.Append("/** SHA-1 of the script's UTF-8 bytes: the name `EVALSHA` and `SCRIPT LOAD` use. */\n");
        ts.Append("export const WRITE_RECORD_SHA1 = ").Append(TsQuote(Sha1Hex(script))).Append(";\n\n");
        ts.Append("/** The record writer, `write-record.lua`. */\n");
        ts.Append("export const WRITE_RECORD_LUA = [\n");
        foreach (var line in script.Split('\n'))
        {
            ts.Append("  ").Append(TsQuote(line)).Append(",\n");
        }

        ts.Append("].join(\"\\n\");\n");
        return ts.ToString();
    }

    /// <summary>Hex SHA-1 of the script's UTF-8 bytes, as Redis names a loaded script.</summary>
    public static string Sha1Hex(string script)
    {
        ArgumentNullException.ThrowIfNull(script);
#pragma warning disable CA5350 // Redis names scripts by SHA-1; this is an identifier, not a security boundary.
        return Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(script)));
#pragma warning restore CA5350
    }

    /// <summary>The record interface's name: the table's name, singular, in PascalCase (<c>attachment_refs</c> → <c>AttachmentRef</c>).</summary>
    internal static string TypeName(EntityDescriptor entity)
    {
        ArgumentNullException.ThrowIfNull(entity);
        if (!entity.Table.EndsWith('s'))
        {
            throw new InvalidOperationException($"Table '{entity.Table}' does not end in a plural 's': give WriterRules.TypeName a rule for it.");
        }

        return string.Concat(entity.Table[..^1].Split('_', StringSplitOptions.RemoveEmptyEntries)
            .Select(part => char.ToUpperInvariant(part[0]) + part[1..]));
    }

    private static string TsType(ColumnDescriptor column)
    {
        var type = column.Kind switch
        {
            ColumnKind.Text when column.AllowedValues is not null => string.Join(" | ", column.AllowedValues.Select(TsQuote)),
            ColumnKind.Text => "string",
            ColumnKind.Timestamp => "TimeInput",
            ColumnKind.Integer => "IntegerInput",
            ColumnKind.JsonObject => "JsonObject",
            _ => throw new InvalidOperationException($"The TypeScript client has no type for column kind {column.Kind}: teach WriterRules.TsType about it."),
        };

        // "" means "no value" in a typed field (null in JavaScript); in a text field it is an empty string.
        return !column.Required && column.Kind != ColumnKind.Text ? type + " | null" : type;
    }

    private static string Comment(ColumnDescriptor column) => column switch
    {
        { Field: "id" } => ", set by the writer from the record id",
        { Field: "deletedAt" } => ": set = soft-deleted, null = not deleted",
        { Kind: ColumnKind.Timestamp } => ": a Date or epoch milliseconds",
        { Kind: ColumnKind.Integer } => ": a safe integer or a bigint in the 64-bit range",
        { Kind: ColumnKind.JsonObject } => ": a JSON object, stored as jsonb",
        { Required: true } => ", never empty",
        _ => string.Empty,
    };

    private static string TsKey(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] is '_' or '$') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '$')
            ? name
            : TsQuote(name);

    private static string TsQuote(string text)
    {
        var quoted = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            _ = c switch
            {
                '\\' => quoted.Append(@"\\"),
                '"' => quoted.Append("\\\""),
                < ' ' or '\x7f' or '\u2028' or '\u2029' => quoted.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)),
                _ => quoted.Append(c),
            };
        }

        return quoted.Append('"').ToString();
    }
}
