using System.Globalization;

namespace NexusArchive.Bench;

/// <summary>
/// CPU seconds spent by the archiver (a child process of this one), Redis and PostgreSQL during a measurement, read
/// from /proc: it shows which of the three the two cores were busy with. PostgreSQL backends that exit during the
/// measurement are counted through the postmaster's children times.
/// </summary>
internal readonly record struct CpuSample(double Self, double Children, double Redis, double Postgres)
{
    private static readonly double s_ticksPerSecond = 100; // USER_HZ on Linux

    public static CpuSample Take()
    {
        double own = 0, children = 0, redis = 0, postgres = 0;
        var self = Fields("/proc/self/stat");
        if (self is not null)
        {
            own = (Ticks(self, 11) + Ticks(self, 12)) / s_ticksPerSecond; // utime + stime
            children = (Ticks(self, 13) + Ticks(self, 14)) / s_ticksPerSecond; // cutime + cstime
        }

        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out _))
            {
                continue;
            }

            var fields = Fields(Path.Combine(dir, "stat"));
            if (fields is null)
            {
                continue;
            }

            var name = fields[0];
            var busy = (Ticks(fields, 11) + Ticks(fields, 12)) / s_ticksPerSecond;
            if (name.StartsWith("redis-server", StringComparison.Ordinal))
            {
                redis += busy;
            }
            else if (name.StartsWith("postgres", StringComparison.Ordinal))
            {
                // Backends are children of the postmaster: their times join its cutime/cstime when they exit.
                var parent = Fields($"/proc/{fields[2]}/stat");
                postgres += busy + (parent is not null && parent[0].StartsWith("postgres", StringComparison.Ordinal) ? 0 : (Ticks(fields, 13) + Ticks(fields, 14)) / s_ticksPerSecond);
            }
        }

        return new CpuSample(own, children, redis, postgres);
    }

    public static CpuSample operator -(CpuSample a, CpuSample b) => new(a.Self - b.Self, a.Children - b.Children, a.Redis - b.Redis, a.Postgres - b.Postgres);

    /// <summary>CPU seconds of the archiver (the child pass), Redis and PostgreSQL together.</summary>
    public double PassTotal => Children + Redis + Postgres;

    /// <summary>
    /// The rate a pass could reach if every core of this machine were busy at the CPU per row it measured (archiver,
    /// Redis and PostgreSQL share the cores, so their total CPU per row bounds the rate).
    /// </summary>
    public static double CeilingRowsPerSecond(double cpuSecondsPerRow) => Environment.ProcessorCount / cpuSecondsPerRow;

    /// <summary>What a baseline running in this process cost per row.</summary>
    public string DescribeBaseline(double wallSeconds, long rows) =>
        $"CPU per row: client {Self / rows * 1e6:N1} µs, PostgreSQL {Postgres / rows * 1e6:N1} µs; cores busy {(Self + Postgres) / wallSeconds:0.00}";

    public string Describe(double wallSeconds, long rows) =>
        $"CPU per row: archiver {Children / rows * 1e6:N1} µs, Redis {Redis / rows * 1e6:N1} µs, PostgreSQL {Postgres / rows * 1e6:N1} µs; " +
        $"cores busy {PassTotal / wallSeconds:0.00} of {Environment.ProcessorCount}";

    // Fields after the "(comm)" entry, with comm itself first: index 0 = comm, 1 = state, 2 = ppid, 11 = utime, ...
    private static string[]? Fields(string path)
    {
        try
        {
            var text = File.ReadAllText(path);
            var open = text.IndexOf('(');
            var close = text.LastIndexOf(')');
            var rest = text[(close + 2)..].Split(' ');
            return [text[(open + 1)..close], .. rest];
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static double Ticks(string[] fields, int index) => double.Parse(fields[index], CultureInfo.InvariantCulture);
}
