using System.Text.RegularExpressions;
using NexusArchive.Core.Sink;

namespace NexusArchive.Tests.Unit;

/// <summary>The shipped migrations as text: placeholders and the search-language block the migrator re-runs.</summary>
public sealed partial class MigrationTests
{
    [GeneratedRegex(@"\{\{[^}]*\}\}")]
    private static partial Regex Placeholder();

    [Fact]
    public void Migrations_UseOnlyThePlaceholdersTheMigratorRenders()
    {
        var used = Migrator.All.SelectMany(m => Placeholder().Matches(m.Sql).Select(x => x.Value)).Distinct().Order();

        Assert.Equal(["{{bookkeeping}}", "{{search_language}}", "{{target}}"], used);
        Assert.Contains(Migrator.All, m => m.Version == 7 && m.Name == "search_and_analytics");
    }

    [Fact]
    public void SearchLanguageBlock_HoldsEverythingThatNamesTheLanguage_AndIsRerunnable()
    {
        var block = Migrator.SearchLanguageBlock(Migrator.All);
        var migration = Migrator.All.Single(m => m.Name == "search_and_analytics").Sql;

        Assert.NotNull(block);
        var outside = migration.Replace(block, string.Empty, StringComparison.Ordinal).Split('\n');
        Assert.All(outside.Where(line => line.Contains("{{search_language}}", StringComparison.Ordinal)), line => Assert.StartsWith("--", line, StringComparison.Ordinal));
        Assert.Contains("CREATE OR REPLACE FUNCTION {{target}}.search_messages", block, StringComparison.Ordinal);
        Assert.Contains("ON CONFLICT (key) DO UPDATE", block, StringComparison.Ordinal);
        Assert.DoesNotContain("CREATE VIEW", block, StringComparison.Ordinal);
    }

    [Fact]
    public void Migrations_BuildNoFullTextIndex_AndTheOptInIndexMatchesTheSearchExpression()
    {
        Assert.All(Migrator.All, m => Assert.DoesNotContain("USING gin", m.Sql, StringComparison.OrdinalIgnoreCase));

        const string Expression = "to_tsvector({{search_language}}::regconfig, coalesce(content, ''))";
        Assert.Contains(Expression, Migrator.SearchIndexSql, StringComparison.Ordinal);
        Assert.Contains("CONCURRENTLY", Migrator.SearchIndexSql, StringComparison.Ordinal);
        Assert.Contains("WHERE " + Expression.Replace("(content", "(m.content", StringComparison.Ordinal) + " @@", Migrator.SearchLanguageBlock(Migrator.All), StringComparison.Ordinal);
    }
}
