using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;

namespace NexusArchive.Tests.Unit;

/// <summary>
/// The shard function is a contract with every writer (write-record.lua, the TypeScript client): pinned here on values
/// worked out by hand from its definition, h = (h × 31 + byte) mod (2³¹ − 1) over the UTF-8 bytes, then h mod N.
/// </summary>
public sealed class ChangeShardTests
{
    [Theory]
    [InlineData("", 4, 0)]
    [InlineData("abc", 4, 2)]        // 97·31² + 98·31 + 99 = 96,354
    [InlineData("é", 7, 5)]          // bytes C3 A9: 195·31 + 169 = 6,214
    [InlineData("abc", 1, 0)]
    public void IndexOf_FollowsTheDocumentedHash(string id, int count, int expected) =>
        Assert.Equal(expected, ChangeShard.IndexOf(id, count));

    [Fact]
    public void IndexOf_ReducesModuloTwoToTheThirtyOneMinusOne_BeforeOverflowing()
    {
        // 64 bytes of 0xFF would overflow a 64-bit accumulator without the reduction; with it, the value is below 2^31.
        var id = new string('\uFFFF', 30);
        long h = 0;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(id))
        {
            h = ((h * 31) + b) % 2147483647;
        }

        Assert.Equal((int)(h % 13), ChangeShard.IndexOf(id, 13));
    }

    [Fact]
    public void Layout_ListsTheUnshardedStream_TheCurrentShards_AndTheDrainingOnes()
    {
        var layout = ShardLayout.Parse([("message", "2"), ("message:draining", "4")]);

        Assert.Equal(
            ["message", "message.0of2", "message.1of2", "message.0of4", "message.1of4", "message.2of4", "message.3of4"],
            layout.StreamsOf(EntityCatalog.Message).Select(s => s.FeedName));
        Assert.True(layout.IsDraining(EntityCatalog.Message));
        Assert.True(layout.IsDraining(EntityCatalog.Message.ForShard(3, 4)));
        Assert.False(layout.IsDraining(EntityCatalog.Message.ForShard(1, 2)));
        Assert.Equal(["user"], ShardLayout.Unsharded.StreamsOf(EntityCatalog.User).Select(s => s.FeedName));
    }

    [Fact]
    public void Layout_WithABadCount_IsRefusedNamingTheField()
    {
        var error = Assert.Throws<InvalidDataException>(() => ShardLayout.Parse([("message", "0")]));
        Assert.Contains("'message'", error.Message, StringComparison.Ordinal);
    }
}
