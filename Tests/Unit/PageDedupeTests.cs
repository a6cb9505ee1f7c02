using System.Text;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;

namespace NexusArchive.Tests.Unit;

public sealed class PageDedupeTests
{
    private static MappedRow Row(string id, int minute)
    {
        var values = new object?[EntityCatalog.User.Columns.Count + 1];
        values[0] = id;
        values[EntityCatalog.User.Columns.ToList().FindIndex(c => c.Field == "updatedAt")] = new DateTime(2026, 1, 1, 0, minute, 0, DateTimeKind.Utc);
        return new MappedRow(new SourceRecord(new ChangeEntry(Encoding.UTF8.GetBytes(id), minute), []), new ArchiveRow(EntityCatalog.User, values));
    }

    [Fact]
    public void DedupeNewest_UniqueIds_ReturnsTheSameList()
    {
        IReadOnlyList<MappedRow> rows = [Row("a", 1), Row("b", 2)];

        Assert.Same(rows, PageWriter.DedupeNewest(rows, out var superseded));
        Assert.Equal(0, superseded);
    }

    [Fact]
    public void DedupeNewest_RepeatedId_KeepsTheNewestVersionInFirstPosition()
    {
        var result = PageWriter.DedupeNewest([Row("a", 1), Row("b", 2), Row("a", 5), Row("a", 3)], out var superseded);

        Assert.Equal(2, superseded);
        Assert.Equal(["a", "b"], result.Select(r => r.Row.Id));
        Assert.Equal(5, result[0].Entry.Score);
    }
}
