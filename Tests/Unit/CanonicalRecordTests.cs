using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Source;
using NexusArchive.Core.Verification;

namespace NexusArchive.Tests.Unit;

public sealed class CanonicalRecordTests
{
    [Theory]
    [InlineData("{\"b\":1,\"a\":2}", "{ \"a\" : 2, \"b\" : 1 }")]
    [InlineData("{\"n\":1.50}", "{\"n\":1.5}")]
    [InlineData("{\"n\":15e-1}", "{\"n\":1.5}")]
    [InlineData("{\"n\":100}", "{\"n\":1e2}")]
    [InlineData("{\"a\":1,\"a\":2}", "{\"a\":2}")]
    [InlineData("{\"s\":\"caf\\u00e9\"}", "{\"s\":\"café\"}")]
    [InlineData("{\"x\":[1,{\"z\":true,\"y\":null}]}", "{\"x\":[1,{\"y\":null,\"z\":true}]}")]
    public void CanonicalJson_MeaninglessRepresentationDifferences_AreEqual(string left, string right) =>
        Assert.Equal(CanonicalRecord.CanonicalJson(left), CanonicalRecord.CanonicalJson(right));

    [Theory]
    [InlineData("{\"a\":1}", "{\"a\":2}")]
    [InlineData("{\"a\":\"1\"}", "{\"a\":1}")]
    [InlineData("{\"a\":1}", "{\"a\":1,\"b\":null}")]
    public void CanonicalJson_DifferentContent_Differs(string left, string right) =>
        Assert.NotEqual(CanonicalRecord.CanonicalJson(left), CanonicalRecord.CanonicalJson(right));

    [Fact]
    public void Canonical_Timestamp_TruncatesToMicrosecondsLikePostgres()
    {
        var withTicks = new DateTime(2024, 5, 1, 12, 0, 0, DateTimeKind.Utc).AddTicks(1_234_567);
        var microseconds = new DateTime(2024, 5, 1, 12, 0, 0, DateTimeKind.Utc).AddTicks(1_234_560);

        Assert.Equal(CanonicalRecord.Canonical(ColumnKind.Timestamp, microseconds), CanonicalRecord.Canonical(ColumnKind.Timestamp, withTicks));
        Assert.NotEqual(CanonicalRecord.Canonical(ColumnKind.Timestamp, microseconds.AddTicks(10)), CanonicalRecord.Canonical(ColumnKind.Timestamp, withTicks));
    }

    [Fact]
    public void Hash_MappedRedisRecordAndEquivalentArchiveRow_AreEqual()
    {
        var entity = EntityCatalog.Message;
        var record = new SourceRecord(new ChangeEntry("m-1"u8.ToArray(), 1_714_564_800_000), [
            new("id", "m-1"), new("sessionId", "s-1"), new("userId", "u-1"), new("role", "user"), new("content", "hi"),
            new("tokenCount", "12"), new("metadata", "{\"b\": 2, \"a\": 1}"), new("createdAt", "2024-05-01T12:00:00Z"),
            new("updatedAt", "1714564800000"), new("locale", "en-GB"),
        ]);
        var (row, deadLetter) = new RecordMapper().Map(entity, record, DateTimeOffset.MaxValue);
        Assert.Null(deadLetter);

        // The same record as PostgreSQL returns it: jsonb normalised, timestamps as UTC DateTime.
        var at = DateTime.SpecifyKind(new DateTime(2024, 5, 1, 12, 0, 0), DateTimeKind.Utc);
        object?[] archived = ["m-1", "s-1", "u-1", "user", "hi", null, 12L, "{\"a\": 1, \"b\": 2}", at, at, null, "{\"locale\": \"en-GB\"}"];

        Assert.Equal(CanonicalRecord.Hash(row!.Row), CanonicalRecord.Hash(new ArchiveRow(entity, archived)));
        archived[4] = "hi!";
        Assert.NotEqual(CanonicalRecord.Hash(row.Row), CanonicalRecord.Hash(new ArchiveRow(entity, archived)));
    }

    [Fact]
    public void Hash_NullAndEmptyText_Differ()
    {
        object?[] empty = ["u-1", string.Empty, null, null, DateTime.UnixEpoch, DateTime.UnixEpoch, null, null];
        object?[] missing = ["u-1", null, null, null, DateTime.UnixEpoch, DateTime.UnixEpoch, null, null];

        Assert.NotEqual(CanonicalRecord.Hash(new ArchiveRow(EntityCatalog.User, empty)), CanonicalRecord.Hash(new ArchiveRow(EntityCatalog.User, missing)));
    }

    [Fact]
    public void Hash_WrongValueCount_Throws() =>
        Assert.Throws<ArgumentException>(() => CanonicalRecord.Hash(new ArchiveRow(EntityCatalog.User, ["u-1"])));

    [Fact]
    public void Canonical_Integer_IsInvariantDecimal() =>
        Assert.Equal("-1234567", CanonicalRecord.Canonical(ColumnKind.Integer, -1234567L));
}
