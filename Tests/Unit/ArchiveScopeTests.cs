using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Verification;

namespace NexusArchive.Tests.Unit;

/// <summary>Scopes are derived from the descriptors' parent columns, not from entity names written into the code.</summary>
public sealed class ArchiveScopeTests
{
    private static readonly SchemaNames s_schemas = new("arc", "bk");

    [Theory]
    [InlineData("user", "user", "id = $1")]
    [InlineData("user", "session", "user_id = $1")]
    [InlineData("user", "message", "(session_id IN (SELECT id FROM \"arc\".chat_sessions WHERE user_id = $1) OR user_id = $1)")]
    [InlineData("session", "session", "id = $1")]
    [InlineData("session", "message", "session_id = $1")]
    [InlineData("session", "attachment", "(message_id IN (SELECT id FROM \"arc\".messages WHERE session_id = $1) OR session_id = $1)")]
    [InlineData("session", "user", "FALSE")]
    public void SqlFilter_FollowsParentColumns(string root, string entity, string expected)
    {
        var scope = root == "user" ? ArchiveScope.ForUser("x") : ArchiveScope.ForSession("x");

        Assert.Equal(expected, scope.SqlFilter(EntityCatalog.Default.Find(entity)!, s_schemas, "$1"));
    }

    [Fact]
    public void Includes_SessionScope_LeavesOutTheUserOnly()
    {
        var scope = ArchiveScope.ForSession("s");

        Assert.Equal(["session", "message", "attachment"], EntityCatalog.Default.All.Where(scope.Includes).Select(e => e.Name));
        Assert.All(EntityCatalog.Default.All, e => Assert.True(ArchiveScope.All.Includes(e)));
    }

    [Fact]
    public void Matcher_UserScope_FindsAMessageThroughItsSessionWhenItsOwnUserIdIsSomeoneElse()
    {
        var matcher = ArchiveScope.ForUser("u-1").CreateMatcher();
        var session = new Dictionary<string, string?> { ["userId"] = "u-1" };
        var assistantMessage = new Dictionary<string, string?> { ["sessionId"] = "s-1", ["userId"] = "assistant" };
        var elsewhere = new Dictionary<string, string?> { ["sessionId"] = "s-9", ["userId"] = "u-2" };

        Assert.True(matcher.Matches(EntityCatalog.Session, "s-1", f => session.GetValueOrDefault(f)));
        Assert.True(matcher.Matches(EntityCatalog.Message, "m-1", f => assistantMessage.GetValueOrDefault(f)));
        Assert.False(matcher.Matches(EntityCatalog.Message, "m-2", f => elsewhere.GetValueOrDefault(f)));
        Assert.True(matcher.Matches(EntityCatalog.Attachment, "a-1", f => f == "messageId" ? "m-1" : null));
    }
}
