using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace NexusArchive.Cli.Commands;

/// <summary>Plain-text tables and JSON for the CLI's reports.</summary>
internal static class Output
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static string Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        var text = new StringBuilder();
        void Line(IReadOnlyList<string> cells)
        {
            for (var i = 0; i < cells.Count; i++)
            {
                var right = i > 0 && cells[i].Length > 0 && (char.IsDigit(cells[i][0]) || cells[i][0] == '-');
                text.Append(right ? cells[i].PadLeft(widths[i]) : cells[i].PadRight(widths[i]));
                text.Append(i == cells.Count - 1 ? "\n" : "  ");
            }
        }

        Line(headers);
        Line([.. widths.Select(w => new string('-', w))]);
        foreach (var row in all)
        {
            Line(row);
        }

        return text.ToString();
    }

    public static string Number(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string Duration(double? milliseconds) => milliseconds switch
    {
        null => "-",
        < 1000 => $"{milliseconds:0} ms",
        < 120_000 => $"{milliseconds / 1000:0.0} s",
        < 7_200_000 => $"{milliseconds / 60_000:0.0} min",
        _ => $"{milliseconds / 3_600_000:0.0} h",
    };

    public static string Time(DateTimeOffset? value) => value?.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "-";
}
