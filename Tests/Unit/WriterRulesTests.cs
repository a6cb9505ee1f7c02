using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;

namespace NexusArchive.Tests.Unit;

/// <summary>
/// The record writer's per-entity rules are rendered from the entity descriptors (<see cref="WriterRules"/>); the shipped
/// <c>write-record.lua</c> carries the rendered block. Set <c>NEXUS_REGENERATE_WRITER_RULES=1</c> to rewrite the block.
/// </summary>
public sealed class WriterRulesTests
{
    private static readonly string s_scriptPath = Path.Combine(FindRepositoryRoot(), "Core", "Source", "Scripts", "write-record.lua");

    [Fact]
    public void ShippedScript_GeneratedBlock_EqualsTheDescriptorsRules()
    {
        var expected = WriterRules.Render(EntityCatalog.All);
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

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "NexusArchive.Functions.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No NexusArchive.Functions.sln above {AppContext.BaseDirectory}.");
    }
}
