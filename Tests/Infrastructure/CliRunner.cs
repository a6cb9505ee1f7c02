using System.Diagnostics;

namespace NexusArchive.Tests.Infrastructure;

/// <summary>Runs the real CLI (<c>nexus-archive.dll</c> from the test output) as a child process.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Starts the CLI with the given settings as environment variables (<c>Archive:PageSize</c> → <c>Archive__PageSize</c>).</summary>
    public static Process Start(IReadOnlyDictionary<string, string?> settings, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "nexus-archive.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // Nothing from the developer's environment leaks in: only what the test passes.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("ConnectionStrings__", StringComparison.Ordinal) || k.StartsWith("Archive__", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        foreach (var (key, value) in settings)
        {
            info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        return Process.Start(info)!;
    }

    /// <summary>Runs the CLI to completion.</summary>
    public static async Task<Result> RunAsync(IReadOnlyDictionary<string, string?> settings, params string[] args)
    {
        using var process = Start(settings, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
