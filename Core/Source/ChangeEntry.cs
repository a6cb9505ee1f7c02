using System.Text;

namespace NexusArchive.Core.Source;

/// <summary>One change-index entry: a record id (raw member bytes) and its change score (updatedAt, epoch ms).</summary>
internal sealed record ChangeEntry(byte[] Member, double Score)
{
    /// <summary>The member decoded as UTF-8 (invalid bytes shown as U+FFFD) for logs and display.</summary>
    public string DisplayId => Encoding.UTF8.GetString(Member);

    /// <summary>The cursor right after this entry.</summary>
    public ChangeCursor After => new(Score, Member);
}

/// <summary>A page of change-index entries in (score, member) order.</summary>
/// <param name="Entries">Entries after the cursor and at or below the upper bound.</param>
/// <param name="ReachedEnd">True when no entry beyond this page is due (the index ended or the upper bound was reached).</param>
internal sealed record ChangePage(IReadOnlyList<ChangeEntry> Entries, bool ReachedEnd);
