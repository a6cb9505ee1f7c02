namespace NexusArchive.Core.Entities;

/// <summary>
/// The archived entities, in dependency order. Production archives the four descriptors below (<see cref="Default"/>,
/// which <c>AddNexusArchive</c> registers); Core's services take the catalog from the container, so every part that
/// works "all entities" (the pass, verify, status, restore, export, erase, the options check, the safety check) reads
/// one list, and a test can register a catalog with an entity of its own (Tests/Integration/FifthEntityTests.cs).
/// </summary>
public sealed class EntityCatalog
{
    public static readonly EntityDescriptor User = new(
        "user",
        "users",
        order: 0,
        [
            new("email", "email", ColumnKind.Text),
            new("displayName", "display_name", ColumnKind.Text),
            new("avatarUrl", "avatar_url", ColumnKind.Text),
        ]);

    public static readonly EntityDescriptor Session = new(
        "session",
        "chat_sessions",
        order: 1,
        [
            new("userId", "user_id", ColumnKind.Text, Required: true),
            new("title", "title", ColumnKind.Text),
            new("model", "model", ColumnKind.Text),
        ],
        new Dictionary<string, string> { ["user_id"] = "user" });

    public static readonly EntityDescriptor Message = new(
        "message",
        "messages",
        order: 2,
        [
            new("sessionId", "session_id", ColumnKind.Text, Required: true),
            new("userId", "user_id", ColumnKind.Text, Required: true),
            new("role", "role", ColumnKind.Text, Required: true, AllowedValues: ["user", "assistant", "system", "tool"]),
            new("content", "content", ColumnKind.Text),
            new("model", "model", ColumnKind.Text),
            new("tokenCount", "token_count", ColumnKind.Integer),
            new("metadata", "metadata", ColumnKind.JsonObject),
        ],
        new Dictionary<string, string> { ["session_id"] = "session", ["user_id"] = "user" });

    public static readonly EntityDescriptor Attachment = new(
        "attachment",
        "attachment_refs",
        order: 3,
        [
            new("messageId", "message_id", ColumnKind.Text, Required: true),
            new("sessionId", "session_id", ColumnKind.Text),
            new("userId", "user_id", ColumnKind.Text, Required: true),
            new("fileName", "file_name", ColumnKind.Text),
            new("mimeType", "mime_type", ColumnKind.Text),
            new("sizeBytes", "size_bytes", ColumnKind.Integer),
            new("storageUrl", "storage_url", ColumnKind.Text),
        ],
        new Dictionary<string, string> { ["message_id"] = "message", ["session_id"] = "session", ["user_id"] = "user" });

    /// <summary>The four archived entities: users → sessions → messages → attachments.</summary>
    public static EntityCatalog Default { get; } = new([User, Session, Message, Attachment]);

    /// <summary>A catalog of <paramref name="entities"/>, kept in dependency order.</summary>
    /// <exception cref="ArgumentException">Two entities share a name or a table.</exception>
    internal EntityCatalog(IEnumerable<EntityDescriptor> entities)
    {
        ArgumentNullException.ThrowIfNull(entities);
        All = [.. entities.OrderBy(e => e.Order)];
        if (All.GroupBy(e => e.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1) is { } name)
        {
            throw new ArgumentException($"Two entities are named '{name.Key}'.", nameof(entities));
        }

        if (All.GroupBy(e => e.Table, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } table)
        {
            throw new ArgumentException($"Two entities archive into table '{table.Key}'.", nameof(entities));
        }
    }

    /// <summary>All entities in dependency order (<see cref="EntityDescriptor.Order"/>: users → sessions → messages → attachments, then any other).</summary>
    public IReadOnlyList<EntityDescriptor> All { get; }

    /// <summary>Finds an entity by its name (<c>user</c>, <c>session</c>, <c>message</c>, <c>attachment</c>).</summary>
    public EntityDescriptor? Find(string name) =>
        All.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Resolves a list of names (empty = all), keeping dependency order; throws on an unknown name.</summary>
    public IReadOnlyList<EntityDescriptor> Resolve(IEnumerable<string>? names)
    {
        var list = names?.Where(n => !string.IsNullOrWhiteSpace(n)).ToList() ?? [];
        if (list.Count == 0)
        {
            return All;
        }

        var unknown = list.Where(n => Find(n) is null).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException(
                $"Unknown entity '{string.Join("', '", unknown)}'. Known entities: {string.Join(", ", All.Select(e => e.Name))}.",
                nameof(names));
        }

        return [.. All.Where(e => list.Contains(e.Name, StringComparer.OrdinalIgnoreCase))];
    }
}
