using System.Text;

namespace NexusArchive.Bench;

/// <summary>
/// Message text for the search benchmark: about 600 bytes of words drawn from a 20,000-word vocabulary with a Zipf-like
/// (log-uniform rank) distribution, deterministic per message and version. Word k is rare in proportion to k: the most
/// common word is in nearly every message, word 99 in about one in ten, word 9,999 in about one in a thousand — the
/// spread of a real chat corpus, which is what a GIN index's cost depends on (distinct words per row).
/// </summary>
internal static class SearchText
{
    public const int Vocabulary = 20_000;
    private const string Consonants = "bdfgklmnprstvz";
    private const string Vowels = "aeiou";
    private static readonly string[] s_words = [.. Enumerable.Range(0, Vocabulary).Select(WordOf)];

    /// <summary>Word number <paramref name="k"/> of the vocabulary (0 = the most common).</summary>
    public static string Word(int k) => s_words[k];

    /// <summary>The text of message <paramref name="i"/> at <paramref name="version"/> (an edit rewrites the whole text).</summary>
    public static string Message(long i, int version)
    {
        var random = new Random((int)(unchecked((i * 2_654_435_761L) + (version * 40_503L) + 17) & int.MaxValue)); // not HashCode: it is seeded per process
        var text = new StringBuilder(640);
        while (text.Length < 600)
        {
            // log-uniform rank: P(k) ~ 1/(k+1), Zipf's law with exponent 1
            var k = (int)Math.Exp(random.NextDouble() * Math.Log(Vocabulary + 1)) - 1;
            text.Append(s_words[Math.Clamp(k, 0, Vocabulary - 1)]).Append(random.Next(12) == 0 ? ". " : " ");
        }

        return text.ToString(0, text.Length - 1);
    }

    // Syllables (consonant + vowel) of k + 70 in base 70: distinct numbers give distinct words of 2-3 syllables.
    private static string WordOf(int k)
    {
        var syllables = new List<string>();
        for (var v = k + 70; v > 0; v /= 70)
        {
            var s = v % 70;
            syllables.Add($"{Consonants[s / 5]}{Vowels[s % 5]}");
        }

        syllables.Reverse();
        return string.Concat(syllables);
    }
}
