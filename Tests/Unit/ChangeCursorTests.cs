using System.Text;
using NexusArchive.Core.Source;

namespace NexusArchive.Tests.Unit;

public sealed class ChangeCursorTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void CompareEntry_OrdersByScoreThenMemberBytes()
    {
        var cursor = new ChangeCursor(10, B("m-5"));

        Assert.True(cursor.CompareEntry(11, B("a")) > 0);
        Assert.True(cursor.CompareEntry(9, B("z")) < 0);
        Assert.True(cursor.CompareEntry(10, B("m-6")) > 0);
        Assert.Equal(0, cursor.CompareEntry(10, B("m-5")));
        Assert.True(cursor.CompareEntry(10, B("m-4")) < 0);
    }

    [Fact]
    public void CompareEntry_InclusiveCursor_AcceptsEveryMemberAtItsScore()
    {
        var cursor = ChangeCursor.AtScore(10);

        Assert.True(cursor.CompareEntry(10, B("")) > 0);
        Assert.True(cursor.CompareEntry(9.999, B("z")) < 0);
    }

    [Fact]
    public void CompareEntry_UsesBytesNotUtf16Order()
    {
        // U+FF5E (3 UTF-8 bytes starting 0xEF) sorts after U+1F600 (0xF0 …) in UTF-16 but before it in bytes, as in Redis.
        var cursor = new ChangeCursor(1, B("\uFF5E"));

        Assert.True(cursor.CompareEntry(1, B("😀")) > 0);
    }

    [Fact]
    public void Max_ReturnsTheLaterPosition()
    {
        var a = new ChangeCursor(10, B("b"));
        var b = new ChangeCursor(10, B("c"));
        var c = new ChangeCursor(9, B("z"));

        Assert.Equal(b, ChangeCursor.Max(a, b));
        Assert.Equal(b, ChangeCursor.Max(b, a));
        Assert.Equal(a, ChangeCursor.Max(a, c));
        Assert.Equal(a, ChangeCursor.Max(ChangeCursor.Start, a));
    }
}
