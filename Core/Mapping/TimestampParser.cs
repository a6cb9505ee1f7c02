using System.Globalization;

namespace NexusArchive.Core.Mapping;

/// <summary>Parses the contract's timestamps: Unix epoch milliseconds as a decimal string, or ISO-8601.</summary>
internal static class TimestampParser
{
    /// <summary>
    /// The earliest timestamp the archive accepts, in the writer and in the mapper alike. Nothing NexusChat stores
    /// predates it, and it sits far above every plausible epoch <em>seconds</em> value read as milliseconds (those land
    /// in January 1970), so a timestamp before it is refused at write time and dead-lettered if it got around the writer.
    /// </summary>
    public static readonly DateTimeOffset Earliest = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly long s_minMs = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
    private static readonly long s_maxMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    /// <summary>Parses a timestamp to UTC; false when it is neither form or out of range.</summary>
    public static bool TryParse(string text, out DateTimeOffset value)
    {
        value = default;
        var span = text.AsSpan().Trim();
        if (span.IsEmpty)
        {
            return false;
        }

        if (IsInteger(span))
        {
            if (!long.TryParse(span, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ms) || ms < s_minMs || ms > s_maxMs)
            {
                return false;
            }

            value = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            return true;
        }

        // ISO-8601 only: yyyy-MM-dd, optionally followed by a time and an offset (no offset = UTC).
        if (span.Length < 10 || !char.IsAsciiDigit(span[0]) || span[4] != '-' || span[7] != '-')
        {
            return false;
        }

        if (!DateTimeOffset.TryParse(span, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value))
        {
            return false;
        }

        value = value.ToUniversalTime();
        return true;
    }

    /// <summary>Epoch milliseconds to UTC, when inside the representable range.</summary>
    public static bool TryFromEpochMilliseconds(long ms, out DateTimeOffset value)
    {
        if (ms < s_minMs || ms > s_maxMs)
        {
            value = default;
            return false;
        }

        value = DateTimeOffset.FromUnixTimeMilliseconds(ms);
        return true;
    }

    private static bool IsInteger(ReadOnlySpan<char> span)
    {
        var digits = span[0] == '-' ? span[1..] : span;
        return !digits.IsEmpty && !digits.ContainsAnyExceptInRange('0', '9');
    }
}
