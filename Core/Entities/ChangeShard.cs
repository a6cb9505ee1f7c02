using System.Text;

namespace NexusArchive.Core.Entities;

/// <summary>
/// One part of an entity's change stream when <c>{prefix}:archive:shards</c> gives the entity more than one shard
/// (docs/scaling.md): shard <see cref="Index"/> of <see cref="Count"/>. A record's shard is
/// <see cref="IndexOf(ReadOnlySpan{byte}, int)"/> of its id; the Lua writer, the TypeScript client and this class compute
/// the same function (docs/redis-layout.md, "Shards").
/// </summary>
internal readonly record struct ChangeShard
{
    /// <summary>The most shards an entity may have.</summary>
    public const int MaxCount = 256;

    private const long Modulus = 2147483647; // 2^31 - 1: h * 31 + 255 stays below 2^53, exact in Lua's and JavaScript's doubles

    public ChangeShard(int index, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxCount);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, count);
        Index = index;
        Count = count;
    }

    public int Index { get; }

    public int Count { get; }

    /// <summary><c>3of4</c>: how run history, status and the keys name the shard.</summary>
    public string Label => $"{Index}of{Count}";

    /// <summary>
    /// The shard of a record id among <paramref name="count"/>: <c>h = (h × 31 + byte) mod (2³¹ − 1)</c> over the id's
    /// UTF-8 bytes from <c>h = 0</c>, then <c>h mod count</c>.
    /// </summary>
    public static int IndexOf(ReadOnlySpan<byte> utf8Id, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        long hash = 0;
        foreach (var b in utf8Id)
        {
            hash = ((hash * 31) + b) % Modulus;
        }

        return (int)(hash % count);
    }

    /// <inheritdoc cref="IndexOf(ReadOnlySpan{byte}, int)"/>
    public static int IndexOf(string id, int count) => IndexOf(Encoding.UTF8.GetBytes(id), count);

    /// <summary>Parses <see cref="Label"/> (<c>3of4</c>); false for anything else.</summary>
    public static bool TryParse(string? label, out ChangeShard shard)
    {
        shard = default;
        var parts = label?.Split("of") ?? [];
        if (parts.Length == 2
            && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
            && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var count)
            && count is >= 2 and <= MaxCount && index < count)
        {
            shard = new ChangeShard(index, count);
            return true;
        }

        return false;
    }

    public override string ToString() => Label;
}
