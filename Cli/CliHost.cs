using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using NexusArchive.Core;

namespace NexusArchive.Cli;

/// <summary>
/// The CLI's composition root: appsettings.json beside the binary, then environment variables
/// (<c>ConnectionStrings__Redis</c>, <c>Archive__PageSize</c>, …), then the same Core registration as the Functions app.
/// </summary>
internal static class CliHost
{
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitConfiguration = 2;
    public const int ExitConflict = 3;

    /// <summary>
    /// What a command's exception means for the caller: a bad argument (unknown entity, both a user and a session, …) is
    /// exit 2 with the message in the caller's words; everything else is exit 1 with the redacted error.
    /// </summary>
    internal static (int Code, string Message)? ExitCodeFor(Exception exception) => exception switch
    {
        ArgumentException argument => (ExitConfiguration, Core.Diagnostics.ErrorText.CallersWords(argument)),
        OperationCanceledException => (ExitFailed, "Cancelled."),
        Core.Sink.EntityBusyException busy => (ExitConflict, busy.Message + " Try again when the running pass has finished."),
        _ => (ExitFailed, "Failed: " + Core.Diagnostics.ErrorText.Describe(exception)),
    };

    /// <summary>Builds and starts the host (which validates every option), runs <paramref name="work"/>, stops the host.</summary>
    public static async Task<int> RunAsync(Func<IServiceProvider, CancellationToken, Task<int>> work, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            DisableDefaults = false,
        });
        builder.Configuration.AddEnvironmentVariables();
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        // Reports (tables, --json) go to stdout; logs go to stderr so the two never mix.
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Services.AddNexusArchive(builder.Configuration);

        IHost host;
        try
        {
            host = builder.Build();
            await host.StartAsync(cancellationToken);
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync("Configuration is invalid:");
            foreach (var failure in ex.Failures)
            {
                await Console.Error.WriteLineAsync("  - " + failure);
            }

            return ExitConfiguration;
        }
        catch (InvalidOperationException ex) when (ex.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
        {
            // A value of the wrong type (e.g. Archive:SettleWindow=abc); the binder's message names the setting.
            await Console.Error.WriteLineAsync("Configuration is invalid:");
            await Console.Error.WriteLineAsync("  - " + ex.Message);
            return ExitConfiguration;
        }

        try
        {
            return await work(host.Services, cancellationToken);
        }
        catch (Exception ex) when (ExitCodeFor(ex) is { } exit)
        {
            // One mapping for every command; the text is ErrorText's (never a connection string or password).
            await Console.Error.WriteLineAsync(exit.Message);
            return exit.Code;
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
            host.Dispose();
        }
    }
}
