using StackExchange.Redis;

namespace NexusArchive.Core.Source;

/// <summary>
/// A change-index entry with the record hash it points to, as the bytes Redis sent: every field name and value of
/// the hash back to back in one array, with their bounds (no <see cref="RedisValue"/> and no array per field, so a
/// page of hashes costs two allocations per record). <see cref="Fields"/> gives the hash as <see cref="HashEntry"/>s
/// for the callers that need them (dead-letter payloads, restore); it is empty when the hash is gone.
/// </summary>
internal sealed class SourceRecord
{
    private readonly byte[] _data;
    private readonly int[] _bounds; // per field: name start, name end (= value start), value end
    private HashEntry[]? _fields;

    /// <summary>A record from hash entries already read (verification, named records, tests); their bytes are copied once.</summary>
    public SourceRecord(ChangeEntry entry, HashEntry[] fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        Entry = entry;
        _fields = fields;
        var names = new byte[fields.Length][];
        var values = new byte[fields.Length][];
        var length = 0;
        for (var i = 0; i < fields.Length; i++)
        {
            names[i] = fields[i].Name.IsNull ? [] : (byte[])fields[i].Name!;
            values[i] = fields[i].Value.IsNull ? [] : (byte[])fields[i].Value!;
            length += names[i].Length + values[i].Length;
        }

        _data = new byte[length];
        _bounds = new int[fields.Length * 3];
        var at = 0;
        for (var i = 0; i < fields.Length; i++)
        {
            _bounds[3 * i] = at;
            names[i].CopyTo(_data, at);
            at += names[i].Length;
            _bounds[(3 * i) + 1] = at;
            values[i].CopyTo(_data, at);
            at += values[i].Length;
            _bounds[(3 * i) + 2] = at;
        }
    }

    /// <summary>A record over <paramref name="data"/> (not copied): field <c>i</c>'s name is <c>data[bounds[3i]..bounds[3i+1]]</c>, its value <c>data[bounds[3i+1]..bounds[3i+2]]</c>.</summary>
    internal SourceRecord(ChangeEntry entry, byte[] data, int[] bounds)
    {
        Entry = entry;
        _data = data;
        _bounds = bounds;
    }

    /// <summary>The change-index entry the record came from.</summary>
    public ChangeEntry Entry { get; }

    /// <summary>How many fields the hash has.</summary>
    public int FieldCount => _bounds.Length / 3;

    /// <summary>True when the index names the record but its hash no longer exists (expired, evicted, deleted).</summary>
    public bool Vanished => FieldCount == 0;

    /// <summary>The hash as Redis entries, built on first use from the bytes (dead letters and restore only).</summary>
    public HashEntry[] Fields => _fields ??= Materialize();

    /// <summary>Field <paramref name="index"/>'s name, as sent.</summary>
    public ReadOnlySpan<byte> Name(int index) => _data.AsSpan(_bounds[3 * index], _bounds[(3 * index) + 1] - _bounds[3 * index]);

    /// <summary>Field <paramref name="index"/>'s value, as sent (a view of the record's bytes: no copy).</summary>
    public ReadOnlyMemory<byte> Value(int index) => _data.AsMemory(_bounds[(3 * index) + 1], _bounds[(3 * index) + 2] - _bounds[(3 * index) + 1]);

    private HashEntry[] Materialize()
    {
        var fields = new HashEntry[FieldCount];
        for (var i = 0; i < fields.Length; i++)
        {
            fields[i] = new HashEntry(Name(i).ToArray(), Value(i).ToArray());
        }

        return fields;
    }
}
