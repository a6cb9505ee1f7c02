using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using System.Text.Json.Serialization;
using NexusArchive.Core;
using NexusArchive.Core.Diagnostics;

namespace NexusArchive.Functions;

/// <summary>The Functions app's composition root, shared by <c>Program.cs</c> and the registration tests.</summary>
public static class FunctionsHost
{
    /// <summary>The provider the Application Insights SDK adds a Warning-only filter rule for.</summary>
    internal const string ApplicationInsightsLoggerProvider =
        "Microsoft.Extensions.Logging.ApplicationInsights.ApplicationInsightsLoggerProvider";

    /// <summary>Library categories kept at Warning in the worker (<see cref="ConfigureLogLevels"/>).</summary>
    internal static readonly string[] QuietCategories = ["Npgsql", "Polly", "StackExchange.Redis", "Microsoft", "System.Net.Http", "Azure"];

    /// <summary>The app setting that holds the Application Insights connection string.</summary>
    internal const string ApplicationInsightsConnectionStringSetting = "APPLICATIONINSIGHTS_CONNECTION_STRING";

    /// <summary>
    /// ASP.NET Core integration → Application Insights (Information logs flowing) → OpenTelemetry metrics → the Core registration
    /// → the Functions-only settings (<c>ArchiveSchedule</c>, <c>VerifySchedule</c>, <c>OffloadSchedule</c>), all validated when the host starts.
    /// </summary>
    public static FunctionsApplicationBuilder Configure(FunctionsApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);

        builder.ConfigureFunctionsWebApplication();

        builder.Services
            .AddApplicationInsightsTelemetryWorkerService()
            .ConfigureFunctionsApplicationInsights();

        // The SDK adds a rule that keeps only Warning and above for its provider; host.json and the
        // Logging section decide levels instead, so NexusArchive's Information events reach App Insights.
        builder.Logging.Services.Configure<LoggerFilterOptions>(options =>
        {
            var rule = options.Rules.FirstOrDefault(r => r.ProviderName == ApplicationInsightsLoggerProvider);
            if (rule is not null)
            {
                options.Rules.Remove(rule);
            }
        });

        // The classic SDK above carries logs, requests and dependencies but ignores System.Diagnostics.Metrics:
        // the NexusArchive meter (rows archived, dead letters, lag, run duration) goes out through OpenTelemetry
        // to the same resource's customMetrics table.
        var metrics = builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(ArchiveMetrics.MeterName));
        var connectionString = builder.Configuration[ApplicationInsightsConnectionStringSetting];
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            metrics.WithMetrics(m => m.AddAzureMonitorMetricExporter(o => o.ConnectionString = connectionString));
        }

        builder.Services.AddNexusArchive(builder.Configuration);

        // A bad ArchiveSchedule, VerifySchedule or OffloadSchedule does not stop the worker (ScheduleCheck says why); every
        // other setting does. Not validated as options (that would make reading them throw): ScheduleCheck runs the validator's rules.
        builder.Services.AddOptions<FunctionsOptions>()
            .Configure(o =>
            {
                o.ArchiveSchedule = builder.Configuration[FunctionsOptions.ArchiveScheduleSetting];
                o.VerifySchedule = builder.Configuration[FunctionsOptions.VerifyScheduleSetting];
                o.OffloadSchedule = builder.Configuration[FunctionsOptions.OffloadScheduleSetting];
                o.ArchiveQueueName = builder.Configuration[FunctionsOptions.ArchiveQueueNameSetting];
                var queue = FunctionsOptions.ArchiveQueueConnection;
                o.ArchiveQueueConnectionConfigured = new[] { queue, $"{queue}:queueServiceUri", $"{queue}:serviceUri", $"{queue}:accountName" }
                    .Any(key => !string.IsNullOrWhiteSpace(builder.Configuration[key]));
                o.ArchiveQueueDisabled = bool.TryParse(builder.Configuration[FunctionsOptions.ArchiveQueueDisabledSetting], out var disabled) && disabled;
                o.ArchiveShardQueueName = builder.Configuration[FunctionsOptions.ArchiveShardQueueNameSetting];
                o.ArchiveShardQueueDisabled = bool.TryParse(builder.Configuration[FunctionsOptions.ArchiveShardQueueDisabledSetting], out var shardsOff) && shardsOff;
            });
        builder.Services.TryAddSingleton<StartupProblems>();
        builder.Services.AddHostedService<ScheduleCheck>();
        builder.Services.AddHostedService<StartupMigration>();

        ConfigureJson(builder.Services);

        ConfigureLogLevels(builder.Logging);
        return builder;
    }

    /// <summary>Every JSON we return spells enums as words (RunStatus, ScopeKind, …), never as numbers.</summary>
    internal static void ConfigureJson(IServiceCollection services) =>
        services.Configure<Microsoft.AspNetCore.Mvc.JsonOptions>(o => o.JsonSerializerOptions.Converters.Add(new JsonStringEnumConverter()));

    /// <summary>
    /// Under the host, everything the worker logs during an invocation is forwarded as <c>Function.&lt;Name&gt;.User</c>
    /// and, with Application Insights, also sent from the worker itself: billed by volume. The worker keeps NexusArchive's
    /// own events (a handful per pass: docs/functions.md, "Logs") and only warnings from libraries that log per command
    /// or per attempt (Npgsql, Polly, StackExchange.Redis, ASP.NET Core, the worker's own plumbing). The <c>Logging</c>
    /// section of the app settings (<c>Logging__LogLevel__Npgsql=Debug</c>) still overrides these defaults.
    /// </summary>
    internal static void ConfigureLogLevels(ILoggingBuilder logging)
    {
        foreach (var category in QuietCategories)
        {
            logging.Services.Configure<LoggerFilterOptions>(o =>
            {
                // Rules from configuration are added before this runs; only add ours where none is configured.
                if (!o.Rules.Any(r => r.CategoryName == category && r.ProviderName is null))
                {
                    o.Rules.Insert(0, new LoggerFilterRule(null, category, LogLevel.Warning, null));
                }
            });
        }
    }
}
