using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core;
using NexusArchive.Core.Diagnostics;

namespace NexusArchive.Functions;

/// <summary>The Functions app's composition root, shared by <c>Program.cs</c> and the registration tests.</summary>
public static class FunctionsHost
{
    /// <summary>The provider the Application Insights SDK adds a Warning-only filter rule for.</summary>
    internal const string ApplicationInsightsLoggerProvider =
        "Microsoft.Extensions.Logging.ApplicationInsights.ApplicationInsightsLoggerProvider";

    /// <summary>The app setting that holds the Application Insights connection string.</summary>
    internal const string ApplicationInsightsConnectionStringSetting = "APPLICATIONINSIGHTS_CONNECTION_STRING";

    /// <summary>
    /// ASP.NET Core integration → Application Insights (Information logs flowing) → OpenTelemetry metrics → the Core registration
    /// → the Functions-only settings (<c>ArchiveSchedule</c>), all validated when the host starts.
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

        builder.Services.AddOptions<FunctionsOptions>()
            .Configure(o => o.ArchiveSchedule = builder.Configuration[FunctionsOptions.ArchiveScheduleSetting])
            .ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FunctionsOptions>, FunctionsOptionsValidator>());
        return builder;
    }
}
