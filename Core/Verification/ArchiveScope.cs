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

    /// <summary>The entity whose record the scope is rooted at (<c>user</c> or <c>session</c>); null for <see cref="ScopeKind.All"/>.</summary>
    internal EntityDescriptor? Root => Kind switch
    {
        ScopeKind.User => EntityCatalog.User,
        ScopeKind.Session => EntityCatalog.Session,
        _ => null,
    };

    /// <summary>
    /// True for the root and for every entity with a parent path to it (<see cref="EntityDescriptor.Parents"/>); false
    /// for entities outside the scope (a session scope has no user).
    /// </summary>
    public bool Includes(EntityDescriptor entity) => Root is not { } root || ReachesRoot(entity, root);

    /// <summary>
    /// A boolean SQL expression over the entity's table; <paramref name="parameter"/> (e.g. <c>$2</c>) carries <see cref="Id"/>.
    /// Built from the descriptors' parent columns: a record is in scope when it is the root, or when one of its parent
    /// columns names the root or a parent record that is itself in scope (so a user's scope includes every message of
    /// the user's sessions even when the message's own <c>userId</c> names someone else).
    /// </summary>
    internal string SqlFilter(EntityDescriptor entity, SchemaNames schemas, string parameter)
    {
        if (Root is not { } root)
        {
            return "TRUE";
        }

        if (entity == root)
        {
            return $"id = {parameter}";
        }

        var paths = ParentPaths(entity, root)
            .Select(p => p.Parent == root
                ? $"{p.Column} = {parameter}"
                : $"{p.Column} IN (SELECT id FROM {schemas.Target}.{p.Parent.Table} WHERE {SqlFilter(p.Parent, schemas, parameter)})")
            .ToList();
        return paths.Count switch
        {
            0 => "FALSE",
            1 => paths[0],
            _ => $"({string.Join(" OR ", paths)})",
        };
    }

    /// <summary>A predicate over Redis records that learns the scope's in-scope parents as it sees them.</summary>
    internal ScopeMatcher CreateMatcher() => new(this);

    /// <summary>The parent columns of <paramref name="entity"/> whose parent is the root or reaches it.</summary>
    internal static IEnumerable<(string Column, string Field, EntityDescriptor Parent)> ParentPaths(EntityDescriptor entity, EntityDescriptor root) =>
        entity.Parents
            .Select(p => (Column: p.Key, Parent: EntityCatalog.Default.Find(p.Value)!))
            .Where(p => p.Parent == root || ReachesRoot(p.Parent, root))
            .Select(p => (p.Column, entity.Columns.First(c => c.Column == p.Column).Field, p.Parent));

    private static bool ReachesRoot(EntityDescriptor entity, EntityDescriptor root) =>
        entity == root || entity.Parents.Values.Any(p => EntityCatalog.Default.Find(p) is { } parent && ReachesRoot(parent, root));
}

/// <summary>
/// Decides whether a Redis record is in an <see cref="ArchiveScope"/>, from its raw fields and the descriptors' parent
/// columns. Entities are read in dependency order, so a record's in-scope parents are known before it is matched (from
/// the archive, <see cref="AddKnown"/>, and from Redis records matched earlier).
/// </summary>
internal sealed class ScopeMatcher(ArchiveScope scope)
{
    private readonly Dictionary<string, HashSet<string>> _known = new(StringComparer.Ordinal);

    /// <summary>Ids of <paramref name="entity"/> known to be in scope before the Redis side is read (from the archive).</summary>
    public void AddKnown(EntityDescriptor entity, IEnumerable<string> ids) => Known(entity).UnionWith(ids);

    /// <summary>True when the record belongs to the scope; <paramref name="field"/> reads a field of the hash (null when absent).</summary>
    public bool Matches(EntityDescriptor entity, string id, Func<string, string?> field)
    {
        if (scope.Root is not { } root)
        {
            return true;
        }

        var matches = entity == root
            ? id == scope.Id
            : ArchiveScope.ParentPaths(entity, root).Any(p => field(p.Field) is { } value
                && (p.Parent == root ? value == scope.Id : Known(p.Parent).Contains(value)));
        if (matches)
        {
            Known(entity).Add(id);
        }

        return matches;
    }

    private HashSet<string> Known(EntityDescriptor entity)
    {
        if (!_known.TryGetValue(entity.Name, out var ids))
        {
            _known[entity.Name] = ids = new HashSet<string>(StringComparer.Ordinal);
        }

        return ids;
    }
}
