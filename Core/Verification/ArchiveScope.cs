using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;

namespace NexusArchive.Core.Verification;

/// <summary>What a verify or restore covers.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<ScopeKind>))]
public enum ScopeKind
{
    /// <summary>Every record of the selected entities.</summary>
    All,

    /// <summary>One user, their sessions, the messages and attachments of those sessions (and any others of theirs).</summary>
    User,

    /// <summary>One session, its messages and their attachments.</summary>
    Session,
}

/// <summary>
/// A user or session scope, expressed both as a SQL filter for the archive tables and as a predicate over Redis hash
/// fields. Children are found through their parents: a user's scope includes every message of the user's sessions
/// even when the message's own <c>userId</c> names someone else (an assistant, a shared session).
/// </summary>
public sealed record ArchiveScope(ScopeKind Kind, string? Id)
{
    /// <summary>Everything.</summary>
    public static readonly ArchiveScope All = new(ScopeKind.All, null);

    /// <summary>One user and everything under them.</summary>
    public static ArchiveScope ForUser(string userId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(userId);
        return new(ScopeKind.User, userId);
    }

    /// <summary>One session and everything under it.</summary>
    public static ArchiveScope ForSession(string sessionId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sessionId);
        return new(ScopeKind.Session, sessionId);
    }

    /// <summary>False for entities outside the scope (a session scope has no user).</summary>
    public bool Includes(EntityDescriptor entity) => !(Kind == ScopeKind.Session && entity == EntityCatalog.User);

    /// <summary>A boolean SQL expression over the entity's table; <paramref name="parameter"/> (e.g. <c>$2</c>) carries <see cref="Id"/>.</summary>
    internal string SqlFilter(EntityDescriptor entity, SchemaNames schemas, string parameter)
    {
        var p = parameter;
        return (Kind, entity.Name) switch
        {
            (ScopeKind.All, _) => "TRUE",
            (ScopeKind.User, "user") => $"id = {p}",
            (ScopeKind.User, "session") => $"user_id = {p}",
            (ScopeKind.User, _) => $"(user_id = {p} OR session_id IN (SELECT id FROM {schemas.Target}.chat_sessions WHERE user_id = {p}))",
            (ScopeKind.Session, "session") => $"id = {p}",
            (ScopeKind.Session, "message") => $"session_id = {p}",
            (ScopeKind.Session, "attachment") => $"(session_id = {p} OR message_id IN (SELECT id FROM {schemas.Target}.messages WHERE session_id = {p}))",
            _ => "FALSE",
        };
    }

    /// <summary>A predicate over Redis records that learns the scope's sessions and messages as it sees them.</summary>
    internal ScopeMatcher CreateMatcher() => new(this);
}

/// <summary>Decides whether a Redis record is in an <see cref="ArchiveScope"/>, from its raw fields.</summary>
internal sealed class ScopeMatcher(ArchiveScope scope)
{
    private readonly HashSet<string> _sessions = new(StringComparer.Ordinal);
    private readonly HashSet<string> _messages = new(StringComparer.Ordinal);

    /// <summary>Ids known to be in scope before the Redis side is read (from the archive).</summary>
    public void AddKnownSessions(IEnumerable<string> ids) => _sessions.UnionWith(ids);

    /// <summary>Ids known to be in scope before the Redis side is read (from the archive).</summary>
    public void AddKnownMessages(IEnumerable<string> ids) => _messages.UnionWith(ids);

    /// <summary>True when the record belongs to the scope; <paramref name="field"/> reads a field of the hash (null when absent).</summary>
    public bool Matches(EntityDescriptor entity, string id, Func<string, string?> field)
    {
        var target = scope.Id;
        switch (scope.Kind, entity.Name)
        {
            case (ScopeKind.All, _):
                return true;
            case (ScopeKind.User, "user"):
                return id == target;
            case (ScopeKind.User, "session"):
                if (field("userId") == target)
                {
                    _sessions.Add(id);
                    return true;
                }

                return false;
            case (ScopeKind.User, _):
                return field("userId") == target || (field("sessionId") is { } s && _sessions.Contains(s));
            case (ScopeKind.Session, "session"):
                return id == target;
            case (ScopeKind.Session, "message"):
                if (field("sessionId") == target)
                {
                    _messages.Add(id);
                    return true;
                }

                return false;
            case (ScopeKind.Session, "attachment"):
                return field("sessionId") == target || (field("messageId") is { } m && _messages.Contains(m));
            default:
                return false;
        }
    }
}
