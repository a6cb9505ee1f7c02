using System.Diagnostics;
using System.Globalization;

namespace NexusArchive.Bench;

/// <summary>The peak working set of a child process, read from /proc (VmHWM) while it runs.</summary>
internal static class PeakWorkingSet
{
    /// <summary>Polls every 20 ms until <paramref name="process"/> exits.</summary>
    /// <returns>The highest VmHWM seen, in kB.</returns>
    public static async Task<long> WatchKbAsync(Process process)
    {
        long peakKb = 0;
        while (!process.HasExited)
        {
            try
            {
                var line = File.ReadLines($"/proc/{process.Id}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
                if (line is not null)
                {
                    peakKb = Math.Max(peakKb, long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture));
                }
            }
            catch (IOException)
            {
                // exited between the check and the read
            }

            await Task.Delay(20);
        }

        return peakKb;
    }
}
