namespace NexusArchive.Core.Source;

/// <summary>
/// A position in a change index, in Redis' own order: by score, then by member bytes.
/// <see cref="Inclusive"/> cursors mean "from the first entry with this score"; exclusive cursors mean
/// "after the entry (Score, Member)".
/// </summary>
internal readonly record struct ChangeCursor(double Score, byte[]? Member)
{
    /// <summary>Before every entry.</summary>
    public static ChangeCursor Start => new(double.NegativeInfinity, null);

    /// <summary>True when the cursor starts at <see cref="Score"/> rather than after a member.</summary>
    public bool Inclusive => Member is null;

    /// <summary>An inclusive cursor at the given score.</summary>
    public static ChangeCursor AtScore(double score) => new(score, null);

    /// <summary>Compares an index entry with this cursor: positive when the entry comes after it.</summary>
    public int CompareEntry(double score, ReadOnlySpan<byte> member)
    {
        var byScore = score.CompareTo(Score);
        if (byScore != 0)
        {
            return byScore;
        }

        return Member is null ? 1 : member.SequenceCompareTo(Member);
    }

    /// <summary>The later of two cursors (an exclusive cursor is later than an inclusive one at the same score).</summary>
    public static ChangeCursor Max(ChangeCursor a, ChangeCursor b)
    {
        if (b.Member is null)
        {
            return a.Score >= b.Score ? a : b;
        }

        return a.CompareEntry(b.Score, b.Member) > 0 ? b : a;
    }

    /// <inheritdoc />
    public bool Equals(ChangeCursor other) =>
        Score.Equals(other.Score) &&
        (Member is null ? other.Member is null : other.Member is not null && Member.AsSpan().SequenceEqual(other.Member));

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Score, Member?.Length ?? -1);

    /// <inheritdoc />
    public override string ToString() =>
        Member is null ? $">= {Score}" : $"> ({Score}, {System.Text.Encoding.UTF8.GetString(Member)})";
}
