using System.Text;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Source;
using StackExchange.Redis;

namespace NexusArchive.Tests.Unit;

public sealed class RecordMapperTests
{
    private static readonly DateTimeOffset s_latest = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);

    private static SourceRecord Record(string id, params (string Field, RedisValue Value)[] fields) =>
        new(new ChangeEntry(Encoding.UTF8.GetBytes(id), 1_700_000_000_000), [.. fields.Select(f => new HashEntry(f.Field, f.Value))]);

    private static SourceRecord Message(string id = "m-1", params (string Field, RedisValue Value)[] overrides)
    {
        var fields = new Dictionary<string, RedisValue>
        {
            ["id"] = id,
            ["sessionId"] = "s-1",
            ["userId"] = "u-1",
            ["role"] = "assistant",
            ["content"] = "hi",
            ["tokenCount"] = "12",
            ["metadata"] = "{\"a\":1}",
            ["createdAt"] = "1700000000000",
            ["updatedAt"] = "1700000000001",
        };
        foreach (var (field, value) in overrides)
        {
            if (value.IsNull)
            {
                fields.Remove(field);
            }
            else
            {
                fields[field] = value;
            }
        }

        return Record(id, [.. fields.Select(f => (f.Key, f.Value))]);
    }

    private static (MappedRow? Row, DeadLetter? DeadLetter) Map(SourceRecord record) =>
        new RecordMapper().Map(EntityCatalog.Message, record, s_latest);

    private static object? Column(MappedRow row, string column) =>
        row.Row[EntityCatalog.Message.Columns.ToList().FindIndex(c => c.Column == column)];

    [Fact]
    public void Map_ValidMessage_MapsEveryColumnWithItsType()
    {
        var (row, deadLetter) = Map(Message());

        Assert.Null(deadLetter);
        Assert.Equal("m-1", Column(row!, "id"));
        Assert.Equal(12L, Column(row!, "token_count"));
        Assert.Equal("{\"a\":1}", Column(row!, "metadata"));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_001).UtcDateTime, Column(row!, "updated_at"));
        Assert.Equal(DateTimeKind.Utc, ((DateTime)Column(row!, "created_at")!).Kind);
        Assert.Null(Column(row!, "deleted_at"));
        Assert.Null(row!.Row.Extra); // no extra fields
    }

    [Fact]
    public void Map_UnknownFields_GoToExtraAsJson()
    {
        var (row, _) = Map(Message(overrides: [("pinned", "true"), ("reaction", "🎉")]));

        Assert.Equal("{\"pinned\":\"true\",\"reaction\":\"🎉\"}", System.Text.RegularExpressions.Regex.Unescape(row!.Row.Extra!));
    }

    [Fact]
    public void Map_IsoTimestamp_IsAccepted()
    {
        var (row, _) = Map(Message(overrides: [("createdAt", "2026-03-04T05:06:07.089+01:00")]));

        Assert.Equal(new DateTime(2026, 3, 4, 4, 6, 7, 89, DateTimeKind.Utc), Column(row!, "created_at"));
    }

    [Theory]
    [InlineData("id", null, "missing_field")]
    [InlineData("sessionId", null, "missing_field")]
    [InlineData("sessionId", "", "missing_field")]
    [InlineData("role", "wizard", "invalid_value")]
    [InlineData("createdAt", "yesterday", "invalid_timestamp")]
    [InlineData("createdAt", "12/03/2026", "invalid_timestamp")]
    [InlineData("updatedAt", "99999999999999999999", "invalid_timestamp")]
    [InlineData("updatedAt", "4102444800000", "future_timestamp")]
    [InlineData("createdAt", "1796231208", "invalid_timestamp")] // epoch seconds written around the writer: not January 1970
    [InlineData("deletedAt", "0", "invalid_timestamp")]
    [InlineData("createdAt", "1999-12-31T23:59:59Z", "invalid_timestamp")]
    [InlineData("tokenCount", "12.5", "invalid_integer")]
    [InlineData("metadata", "{oops", "invalid_json")]
    [InlineData("metadata", "[1,2]", "invalid_json")]
    [InlineData("metadata", "{\"a\":\"\\u0000\"}", "invalid_json")]
    [InlineData("metadata", "{\"a\":\"\\U0000\"}", "invalid_json")]
    [InlineData("metadata", "{\"a\":\"\\\\u0000\"}", "invalid_json")] // the text \u0000 after an escaped backslash: refused as before
    [InlineData("role", "User", "invalid_value")]
    [InlineData("content", "nul\0inside", "invalid_text")]
    [InlineData("id", "m-other", "id_mismatch")]
    public void Map_BadField_DeadLettersWithCategoryNamingTheField(string field, string? value, string category)
    {
        var (row, deadLetter) = Map(Message(overrides: [(field, value is null ? RedisValue.Null : (RedisValue)value)]));

        Assert.Null(row);
        Assert.Equal(category, deadLetter!.Category);
        Assert.Contains(field == "id" && category == "id_mismatch" ? "'id'" : $"'{field}'", deadLetter.Reason);
    }

    [Fact]
    public void Map_Text_KeepsTheBytesForCopyAndReadsAsTheString()
    {
        var (row, _) = Map(Message(overrides: [("content", "héllo 🎉"), ("metadata", "{\"k\":\"ü\"}")]));
        var ordinal = EntityCatalog.Message.Columns.ToList().FindIndex(c => c.Column == "content");

        Assert.Equal("héllo 🎉", row!.Row[ordinal]);
        Assert.Equal(Encoding.UTF8.GetBytes("héllo 🎉"), Assert.IsType<Utf8Text>(row.Row.CopyValue(ordinal)).Bytes.ToArray());
        Assert.Equal("{\"k\":\"ü\"}", Column(row, "metadata"));
        Assert.IsType<string>(row.Row.CopyValue(0)); // the id stays a string (page dedupe)
    }

    [Fact]
    public void SourceRecord_FromHashEntries_GivesEachFieldsBytesAndTheEntriesBack()
    {
        HashEntry[] fields = [new("a", "1"), new("empty", ""), new("b", new byte[] { 0xFF, 0x00 })];
        var record = new SourceRecord(new ChangeEntry("x"u8.ToArray(), 1), fields);

        Assert.Equal(3, record.FieldCount);
        Assert.Equal("empty"u8.ToArray(), record.Name(1).ToArray());
        Assert.Empty(record.Value(1).ToArray());
        Assert.Equal(new byte[] { 0xFF, 0x00 }, record.Value(2).ToArray());
        Assert.Same(fields, record.Fields);
        Assert.True(new SourceRecord(new ChangeEntry("x"u8.ToArray(), 1), []).Vanished);
    }

    [Fact]
    public void Map_InvalidUtf8_DeadLettersAndKeepsExactBytes()
    {
        byte[] bytes = [0x61, 0xFF, 0xFE, 0x62];
        var (_, deadLetter) = Map(Message(overrides: [("content", bytes)]));

        Assert.Equal("invalid_text", deadLetter!.Category);
        var raw = RawPayload.Decode(deadLetter.RawFields);
        Assert.Equal(bytes, raw.Single(p => Encoding.UTF8.GetString(p.Key) == "content").Value);
    }

    [Fact]
    public void Map_EmptyOptionalTypedField_IsNull()
    {
        var (row, _) = Map(Message(overrides: [("tokenCount", ""), ("deletedAt", "")]));

        Assert.Null(Column(row!, "token_count"));
        Assert.Null(Column(row!, "deleted_at"));
    }

    [Fact]
    public void MapPage_VanishedRecords_AreCountedNotMapped()
    {
        var page = new RecordMapper().MapPage(EntityCatalog.Message, [Message("m-1"), Record("m-2"), Message("m-3", ("role", "x"))], s_latest);

        Assert.Single(page.Rows);
        Assert.Single(page.DeadLetters);
        Assert.Equal(1, page.Vanished);
    }

    [Fact]
    public void RawPayload_RoundTripsTextAndBinaryExactly()
    {
        HashEntry[] fields = [new("a", "plain"), new("b", new byte[] { 0, 1, 2, 255 }), new("c", "")];

        var decoded = RawPayload.Decode(RawPayload.Encode(fields));

        Assert.Equal(fields.Select(f => ((byte[])f.Name!, (byte[])f.Value!)), decoded.Select(p => (p.Key, p.Value)));
    }
}
