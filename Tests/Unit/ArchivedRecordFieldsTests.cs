using NexusArchive.Core.Entities;
using NexusArchive.Core.Restore;

namespace NexusArchive.Tests.Unit;

public sealed class ArchivedRecordFieldsTests
{
    private static readonly DateTime s_at = DateTime.SpecifyKind(new DateTime(2024, 5, 1, 12, 0, 0), DateTimeKind.Utc);

    [Fact]
    public void From_Row_GivesClientFieldsWithEpochMsTimestampsAndExtraExpanded()
    {
        object?[] row = ["m-1", "s-1", "u-1", "user", string.Empty, null, 42L, "{\"a\": 1}", s_at, s_at.AddSeconds(1), s_at.AddSeconds(2), "{\"locale\": \"en-GB\", \"n\": 3}"];

        var (fields, updatedAtMs) = ArchivedRecordFields.From(new ArchiveRow(EntityCatalog.Message, row));
        var map = fields.ToDictionary(f => f.Key, f => (string?)f.Value);

        Assert.Equal(1_714_564_801_000, updatedAtMs);
        Assert.Equal("1714564800000", map["createdAt"]);
        Assert.Equal("1714564802000", map["deletedAt"]);
        Assert.Equal("42", map["tokenCount"]);
        Assert.Equal("{\"a\": 1}", map["metadata"]);
        Assert.Equal(string.Empty, map["content"]);
        Assert.False(map.ContainsKey("model")); // null columns stay absent
        Assert.Equal("en-GB", map["locale"]);
        Assert.Equal("3", map["n"]);
    }

    [Fact]
    public void Format_SubMillisecondTimestamp_KeepsMicrosecondsAsIso() =>
        Assert.Equal("2024-05-01T12:00:00.001500Z", ArchivedRecordFields.Format(s_at.AddTicks(15_000)));

    [Fact]
    public void From_RowWithoutUpdatedAt_Throws()
    {
        object?[] row = ["u-1", null, null, null, s_at, null, null, null];
        Assert.Throws<ArgumentException>(() => ArchivedRecordFields.From(new ArchiveRow(EntityCatalog.User, row)));
    }
}
