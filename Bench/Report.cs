namespace NexusArchive.Bench;

/// <summary>The benchmark's output: each figure printed as it is measured, and all of them as a Markdown table at the end.</summary>
internal sealed class Report
{
    private readonly List<(string Name, string Value, string Note)> _results = [];

    /// <summary>The value at fraction <paramref name="p"/> (0.5, 0.99) of an ascending list: the nearest rank below.</summary>
    public static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)(sorted.Count * p))];

    public void Note(string name, string value, string note)
    {
        _results.Add((name, value, note));
        Console.WriteLine($"  {name}: {value}  ({note})");
    }

    public void Print()
    {
        Console.WriteLine();
        Console.WriteLine("| measurement | result | notes |");
        Console.WriteLine("|---|---|---|");
        foreach (var (name, value, note) in _results)
        {
            Console.WriteLine($"| {name} | {value} | {note} |");
        }
    }
}
