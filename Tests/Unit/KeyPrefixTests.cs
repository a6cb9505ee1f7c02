using NexusArchive.Core.Configuration;

namespace NexusArchive.Tests.Unit;

/// <summary>
/// <c>Archive:KeyPrefix</c>: letters, digits, <c>_ . -</c> and at most one Redis Cluster hash tag, so that on a cluster
/// every key of one write hashes to one slot.
/// </summary>
public sealed class KeyPrefixTests
{
    [Theory]
    [InlineData("nexus")]
    [InlineData("nexus-chat.v2_1")]
    [InlineData("{nexus}")]
    [InlineData("{nexus}.v2")]
    [InlineData("app-{nexus}-eu")]
    [InlineData("{n}")]
    public void IsKeyPrefix_PlainOrWithOneHashTag_True(string prefix)
    {
        Assert.True(Identifiers.IsKeyPrefix(prefix));
        Assert.True(new ArchiveOptionsValidator().Validate(null, new ArchiveOptions { KeyPrefix = prefix }).Succeeded);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{}")]
    [InlineData("{}nexus")]
    [InlineData("{a}{b}")]
    [InlineData("{nexus")]
    [InlineData("nexus}")]
    [InlineData("{nex{us}}")]
    [InlineData("{nexus:eu}")]
    [InlineData("{nexus*}")]
    [InlineData("nexus\n")]
    public void IsKeyPrefix_EmptyTagSecondTagUnbalancedOrBadCharacter_False(string prefix)
    {
        Assert.False(Identifiers.IsKeyPrefix(prefix));
        var result = new ArchiveOptionsValidator().Validate(null, new ArchiveOptions { KeyPrefix = prefix });
        Assert.Contains(result.Failures!, f => f.Contains("Archive:KeyPrefix", StringComparison.Ordinal) && f.Contains("{nexus}", StringComparison.Ordinal));
    }

    [Fact]
    public void IsKeyPrefix_Length_OneTo64CharactersIncludingTheBraces()
    {
        Assert.True(Identifiers.IsKeyPrefix("{" + new string('a', 62) + "}"));
        Assert.False(Identifiers.IsKeyPrefix("{" + new string('a', 63) + "}"));
        Assert.True(Identifiers.IsKeyPrefix(new string('a', 64)));
        Assert.False(Identifiers.IsKeyPrefix(new string('a', 65)));
    }
}
