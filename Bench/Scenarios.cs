using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;

namespace NexusArchive.Bench;

/// <summary>
/// A pass run as the real CLI: rows read and upserted, its own duration, the child's peak working set and CPU, its pages
/// and entities, and the Redis commands it ran (<c>INFO commandstats</c> before and after, connection set-up included).
/// </summary>
internal sealed record PassResult(long Rows, long Upserted, double Seconds, double PeakMb, string Cpu, double CpuSecondsPerRow, int Pages, int Entities, RedisCommands Commands);

/// <summary>
/// NexusArchive's passes as they run in production: a CLI pass in a child process (initial load, incremental, the
/// memory scale-up), and passes in the one warm process a Functions worker keeps (no-op latency, warm incremental).
/// </summary>
internal sealed class Scenarios(BenchServers servers, Report report)
{
    /// <summary>
    /// One <c>nexus-archive archive --json</c> pass in a child process, with its CPU, peak working set and Redis commands;
    /// <paramref name="settings"/> override the benchmark's (connection strings through a proxy, page size, …).
    /// </summary>
    public async Task<PassResult> CliPassAsync(IReadOnlyDictionary<string, string>? settings = null)
    {
        var callsBefore = await servers.BeginRedisCommandsAsync();
        var (root, peakKb, cpu, wallSeconds) = await RunCliAsync(["archive", "--json"], settings);
        var commands = await servers.RedisCommandsSinceAsync(callsBefore);
        var read = root.GetProperty("totalRead").GetInt64();
        var entities = root.GetProperty("entities").EnumerateArray().ToList();
        return new PassResult(
            read,
            root.GetProperty("totalUpserted").GetInt64(),
            root.GetProperty("durationMs").GetDouble() / 1000,
            peakKb / 1024.0,
            cpu.Describe(wallSeconds, Math.Max(1, read)),
            cpu.PassTotal / Math.Max(1, read),
            entities.Sum(e => e.GetProperty("pages").GetInt32()),
            entities.Count,
            commands);
    }

    /// <summary>
    /// Runs the real CLI (<c>nexus-archive.dll</c> next to the benchmark) with the benchmark's settings plus
    /// <paramref name="settings"/>, and returns its JSON output, its peak working set (kB) and the CPU it cost.
    /// </summary>
    public async Task<(JsonElement Json, long PeakKb, CpuSample Cpu, double WallSeconds)> RunCliAsync(string[] args, IReadOnlyDictionary<string, string>? settings = null)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "nexus-archive.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(cli);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in servers.Settings().Concat(settings?.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)) ?? []))
        {
            if (value is not null)
            {
                info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
            }
        }

        info.Environment["Logging__LogLevel__NexusArchive"] = "Warning";
        var cpuBefore = CpuSample.Take();
        var wall = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var peakKb = await PeakWorkingSet.WatchKbAsync(process);

        await process.WaitForExitAsync();
        await Task.Delay(300); // let the child's PostgreSQL backends exit, so their time is counted
        var cpu = CpuSample.Take() - cpuBefore;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{args[0]} exited {process.ExitCode}: {await stderr}\n{await stdout}");
        }

        using var json = JsonDocument.Parse(await stdout);
        return (json.RootElement.Clone(), peakKb, cpu, wall.Elapsed.TotalSeconds);
    }

    /// <summary>One pass of all entities in the warm process, timed by the pass itself.</summary>
    public Task<ArchiveRunResult> WarmPassAsync() =>
        servers.Warm.GetRequiredService<ArchiveService>().RunAsync(new ArchiveRunRequest("bench"), CancellationToken.None);

    /// <summary>Passes with nothing to archive in the warm process: the first (it probes the overlap), then the median of 21.</summary>
    public async Task NoOpLatencyAsync(string situation)
    {
        var archive = servers.Warm.GetRequiredService<ArchiveService>();
        double? first = null;
        for (var i = 0; i < 3; i++)
        {
            var warmUp = await archive.RunAsync(new ArchiveRunRequest("bench"), CancellationToken.None);
            first ??= warmUp.DurationMs;
        }

        var samples = new List<double>();
        var entities = 0;
        var callsBefore = await servers.BeginRedisCommandsAsync();
        for (var i = 0; i < 21; i++)
        {
            var run = await archive.RunAsync(new ArchiveRunRequest("bench"), CancellationToken.None);
            if (run.TotalUpserted != 0)
            {
                throw new InvalidOperationException("The no-op pass found work: the benchmark data changed underneath it.");
            }

            samples.Add(run.DurationMs);
            entities = run.Entities.Count;
        }

        var commands = await servers.RedisCommandsSinceAsync(callsBefore);
        samples.Sort();
        report.Note($"NexusArchive no-op pass, {situation}", $"{samples[samples.Count / 2]:N1} ms median", $"p90 {samples[(int)(samples.Count * 0.9)]:N1} ms over {samples.Count} passes of all {entities} entities in a warm process");
        report.Note("  Redis commands per no-op pass (warm process)", $"{commands.Per(samples.Count):0.#} ({commands.Per(samples.Count * entities):0.##} per entity)",
            $"per entity: {commands.Breakdown(samples.Count * entities)} (INFO commandstats over those passes)");
        report.Note("  the first of those passes", $"{first:N1} ms", "the process's first pass (JIT, connections); it re-reads the look-back overlap only when writes happened since the last successful pass (the quiet mark in the checkpoint row)");
    }
}
