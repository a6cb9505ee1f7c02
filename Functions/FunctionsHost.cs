using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core;

namespace NexusArchive.Functions;

/// <summary>The Functions app's composition root, shared by <c>Program.cs</c> and the registration tests.</summary>
public static class FunctionsHost
{
    /// <summary>The provider the Application Insights SDK adds a Warning-only filter rule for.</summary>
    internal const string ApplicationInsightsLoggerProvider =
        "Microsoft.Extensions.Logging.ApplicationInsights.ApplicationInsightsLoggerProvider";

    /// <summary>
    /// ASP.NET Core integration → Application Insights (Information logs flowing) → the Core registration
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

        builder.Services.AddNexusArchive(builder.Configuration);

        builder.Services.AddOptions<FunctionsOptions>()
            .Configure(o => o.ArchiveSchedule = builder.Configuration[FunctionsOptions.ArchiveScheduleSetting])
            .ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FunctionsOptions>, FunctionsOptionsValidator>());
        return builder;
    }
}
