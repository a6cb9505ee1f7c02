using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Unit;

/// <summary>
/// The record writer's per-entity rules are rendered from the entity descriptors (<see cref="WriterRules"/>); the shipped
/// <c>write-record.lua</c> carries the rendered block, and the TypeScript client (<c>clients/typescript</c>) carries the
/// same rules as a rendered module plus the script itself. Set <c>NEXUS_REGENERATE_WRITER_RULES=1</c> to rewrite them all.
/// </summary>
public sealed class WriterRulesTests
{
    private static readonly string s_root = Repository.Root;
    private static readonly string s_scriptPath = Path.Combine(s_root, "Core", "Source", "Scripts", "write-record.lua");

    [Fact]
    public void ShippedScript_GeneratedBlock_EqualsTheDescriptorsRules()
    {
        var expected = WriterRules.Render(EntityCatalog.Default.All);
        var script = File.ReadAllText(s_scriptPath).ReplaceLineEndings("\n");
        if (Environment.GetEnvironmentVariable(WriterRules.RegenerateVariable) == "1" && WriterRules.ExtractBlock(script) != expected)
        {
            script = WriterRules.ReplaceBlock(script, expected);
            File.WriteAllText(s_scriptPath, script);
        }

        Assert.True(
            WriterRules.ExtractBlock(script) == expected,
            $"The rules block of {s_scriptPath} differs from the entity descriptors. Regenerate it with `{WriterRules.RegenerateCommand}` "
            + "from the repository root, then rebuild (Core embeds the script) and commit the script.");
    }

    [Fact]
    public void TypeScriptClient_GeneratedRules_EqualTheDescriptorsRules() =>
        AssertCommittedOrRegenerate(WriterRules.TypeScriptRulesPath, WriterRules.RenderTypeScript(EntityCatalog.Default.All));

    [Fact]
    public void TypeScriptClient_GeneratedScriptModule_CarriesTheShippedScriptAndItsSha1() =>
        AssertCommittedOrRegenerate(WriterRules.TypeScriptScriptPath, WriterRules.RenderTypeScriptScript(ShippedScriptWithCurrentRules()));

    [Fact]
    public void TypeScriptClient_ScriptCopy_IsByteIdenticalToTheShippedScript() =>
        AssertCommittedOrRegenerate(WriterRules.TypeScriptScriptCopyPath, ShippedScriptWithCurrentRules());

    [Fact]
    public void RenderTypeScript_Message_CarriesRequiredFieldsKindsRolesAndTheRecordType()
    {
        var module = WriterRules.RenderTypeScript([EntityCatalog.Message]);

        Assert.Contains("required: [\"sessionId\", \"userId\", \"role\", \"createdAt\"],", module, StringComparison.Ordinal);
        Assert.Contains(
            "kinds: { sessionId: \"text\", userId: \"text\", role: \"text\", content: \"text\", model: \"text\", tokenCount: \"integer\", metadata: \"json\", createdAt: \"timestamp\", deletedAt: \"timestamp\" },",
            module, StringComparison.Ordinal);
        Assert.Contains("allowed: { role: [\"user\", \"assistant\", \"system\", \"tool\"] },", module, StringComparison.Ordinal);
        Assert.Contains("export interface Message {", module, StringComparison.Ordinal);
        Assert.Contains("  role: \"user\" | \"assistant\" | \"system\" | \"tool\";", module, StringComparison.Ordinal);
        Assert.Contains("  metadata?: JsonObject | null;", module, StringComparison.Ordinal);
        Assert.Contains("  content?: string;", module, StringComparison.Ordinal);
        Assert.Contains("export const EARLIEST_MS = 946684800000;", module, StringComparison.Ordinal);
        Assert.Contains("export const MAX_AHEAD_MS = 86400000;", module, StringComparison.Ordinal);
        Assert.DoesNotContain("updatedAt:", module, StringComparison.Ordinal); // set by the writer (the write's stamp)
        Assert.DoesNotContain("updatedAt?:", module, StringComparison.Ordinal);
    }

    [Fact]
    public void TypeName_IsTheSingularTableInPascalCase()
    {
        Assert.Equal(["User", "ChatSession", "Message", "AttachmentRef"], EntityCatalog.Default.All.Select(WriterRules.TypeName));
    }

    [Fact]
    public void RenderTypeScriptScript_KeepsEveryByteAndNamesTheRedisSha1()
    {
        var module = WriterRules.RenderTypeScriptScript("-- a \"quoted\" \\ line\nreturn 1\n");

        Assert.Contains("  \"-- a \\\"quoted\\\" \\\\ line\",\n  \"return 1\",\n  \"\",\n].join(\"\\n\");", module, StringComparison.Ordinal);
        Assert.Equal("e0e1f9fabfc9d4800c877a703b823ac0578ff8db", WriterRules.Sha1Hex("return 1")); // redis-cli SCRIPT LOAD "return 1"
    }

    [Fact]
    public void EmbeddedScript_IsTheShippedScript()
    {
        var shipped = File.ReadAllText(s_scriptPath);

        Assert.True(EmbeddedScripts.WriteRecord == shipped, $"Core embeds an older {s_scriptPath}: rebuild Core.");
    }

    [Fact]
    public void Render_Message_CarriesRequiredFieldsKindsAndAllowedRoles()
    {
        var block = WriterRules.Render([EntityCatalog.Message]);

        Assert.Contains("if entity == 'message' then", block, StringComparison.Ordinal);
        Assert.Contains("required = { 'sessionId', 'userId', 'role', 'createdAt' },", block, StringComparison.Ordinal);
        Assert.Contains(
            "kinds = { sessionId = 'text', userId = 'text', role = 'text', tokenCount = 'integer', metadata = 'json', createdAt = 'timestamp', deletedAt = 'timestamp' },",
            block, StringComparison.Ordinal);
        Assert.Contains("allowed = { role = { 'user', 'assistant', 'system', 'tool' } },", block, StringComparison.Ordinal);
        Assert.DoesNotContain(block.Split('\n'), l => !l.StartsWith("--", StringComparison.Ordinal) && l.Contains("updatedAt", StringComparison.Ordinal)); // set by the writer
        Assert.DoesNotContain("content", block, StringComparison.Ordinal); // free text has no rule
        Assert.Contains("local EARLIEST_MS = 946684800000", block, StringComparison.Ordinal);
        Assert.Contains("local MAX_AHEAD_MS = 86400000", block, StringComparison.Ordinal);
    }

    [Fact]
    public void ReplaceBlock_KeepsEverythingOutsideTheMarkers()
    {
        var script = $"-- head\n{WriterRules.BeginMarker}\nold\n{WriterRules.EndMarker}\nlocal tail = 1\n";

        var replaced = WriterRules.ReplaceBlock(script, $"{WriterRules.BeginMarker}\nnew\n{WriterRules.EndMarker}\n");

        Assert.Equal($"-- head\n{WriterRules.BeginMarker}\nnew\n{WriterRules.EndMarker}\nlocal tail = 1\n", replaced);
        Assert.Null(WriterRules.ExtractBlock("-- no block"));
        Assert.Throws<InvalidOperationException>(() => WriterRules.ReplaceBlock("-- no block", "x"));
    }

    /// <summary>The shipped script as it is once its rules block is current (the copies follow the block in one regeneration).</summary>
    private static string ShippedScriptWithCurrentRules()
    {
        var script = File.ReadAllText(s_scriptPath);
        return WriterRules.ExtractBlock(script.ReplaceLineEndings("\n")) is null ? script : WriterRules.ReplaceBlock(script, WriterRules.Render(EntityCatalog.Default.All));
    }

    private static void AssertCommittedOrRegenerate(string relativePath, string expected)
    {
        var path = Path.Combine(s_root, relativePath);
        var committed = File.Exists(path) ? File.ReadAllText(path) : null;
        if (Environment.GetEnvironmentVariable(WriterRules.RegenerateVariable) == "1" && committed != expected)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, expected); // UTF-8 without BOM: byte-identical to what was rendered
            committed = expected;
        }

        Assert.True(
            committed == expected,
            $"{relativePath} {(committed is null ? "is missing" : "differs from what the entity descriptors and Core/Source/Scripts/write-record.lua render")}. "
            + $"Regenerate it with `{WriterRules.RegenerateCommand}` from the repository root and commit it.");
    }
}
