using Azure.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Offload;
using NexusArchive.Functions;
using NexusArchive.Tests.Infrastructure;
using static NexusArchive.Tests.Functions.FunctionsTestKit;
using Npgsql;
using OpenTelemetry.Metrics;

namespace NexusArchive.Tests.Functions;

/// <summary>The real Functions host, built from in-memory configuration with the same composition as Program.cs.</summary>
public sealed class FunctionsHostTests
{
    private static Dictionary<string, string?> ValidSettings() => WorkerSettings(new Dictionary<string, string?>
    {
        ["ConnectionStrings:Redis"] = "127.0.0.1:1,abortConnect=false",
        ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Database=nexus;Username=archiver",
    });

    [Fact]
    public void Build_ValidSettings_ResolvesEverythingAFunctionNeeds()
    {
        using var host = BuildWorker(ValidSettings());
        var services = host.Services;

        Assert.NotNull(ActivatorUtilities.CreateInstance<ArchiveTimerFunction>(services));
        Assert.NotNull(ActivatorUtilities.CreateInstance<ArchiveHttpFunctions>(services));
        Assert.NotNull(ActivatorUtilities.CreateInstance<ArchiveVerifyTimerFunction>(services));
        Assert.NotNull(ActivatorUtilities.CreateInstance<ArchiveVerifyFunction>(services));
        Assert.NotNull(ActivatorUtilities.CreateInstance<ArchiveOffloadTimerFunction>(services));
        Assert.NotNull(ActivatorUtilities.CreateInstance<ArchiveRestoreSessionFunction>(services));
        Assert.NotNull(services.GetRequiredService<ArchiveService>());
        Assert.NotNull(services.GetRequiredService<StatusService>());
        Assert.NotNull(services.GetRequiredService<ArchiveMetrics>());
        Assert.Equal("0 */5 * * * *", services.GetRequiredService<IOptions<FunctionsOptions>>().Value.ArchiveSchedule);
        Assert.Equal("0 30 3 * * *", services.GetRequiredService<IOptions<FunctionsOptions>>().Value.OffloadSchedule);
        Assert.False(services.GetRequiredService<IOptions<OffloadOptions>>().Value.Enabled);
        Assert.False(services.GetRequiredService<IOptions<ArchiveOptions>>().Value.PostgresUseManagedIdentity);
        var filters = services.GetRequiredService<IOptions<LoggerFilterOptions>>().Value;
        Assert.DoesNotContain(filters.Rules, r => r.ProviderName == FunctionsHost.ApplicationInsightsLoggerProvider && r.LogLevel == LogLevel.Warning);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:1/")]
    public void Build_WithOrWithoutAppInsights_WiresTheNexusArchiveMeterIntoOpenTelemetry(string? connectionString)
    {
        var settings = ValidSettings();
        settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] = connectionString;
        using var host = BuildWorker(settings);

        Assert.NotNull(host.Services.GetRequiredService<MeterProvider>());
        var metrics = host.Services.GetRequiredService<ArchiveMetrics>();
        metrics.RecordPage("message", 3, 0, 0);
        metrics.RecordLag("message", 1500);
    }

    [Fact]
    public void SampleSettings_PassEveryValidator()
    {
        // local.settings.sample.json is copied beside the Functions assembly; its Values are environment-style keys.
        using var sample = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "local.settings.sample.json")));
        var settings = sample.RootElement.GetProperty("Values").EnumerateObject()
            .ToDictionary(p => p.Name.Replace("__", ":", StringComparison.Ordinal), p => (string?)p.Value.GetString());
        using var host = BuildWorker(settings);

        var archive = host.Services.GetRequiredService<IOptions<ArchiveOptions>>().Value;
        Assert.Equal("0 */5 * * * *", host.Services.GetRequiredService<IOptions<FunctionsOptions>>().Value.ArchiveSchedule);
        Assert.NotNull(host.Services.GetRequiredService<IOptions<ConnectionOptions>>().Value.Redis);
        Assert.Equal(TimeSpan.FromMinutes(8), archive.TimeBudget);
        Assert.Equal(4, archive.Entities.Count);
        Assert.Equal("dotnet-isolated", settings["FUNCTIONS_WORKER_RUNTIME"]);
    }

    [Fact]
    public void HostJson_FunctionTimeoutLeavesRoomAboveTheDefaultTimeBudgetAndTheKickCap()
    {
        using var hostJson = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "host.json")));
        var functionTimeout = TimeSpan.Parse(hostJson.RootElement.GetProperty("functionTimeout").GetString()!, System.Globalization.CultureInfo.InvariantCulture);

        Assert.True(new ArchiveOptions().TimeBudget + TimeSpan.FromMinutes(1) <= functionTimeout);
        Assert.True(new OffloadOptions().TimeBudget + TimeSpan.FromMinutes(1) <= functionTimeout);
        Assert.True(KickRequest.MaxKickDuration < TimeSpan.FromSeconds(230));
        Assert.Equal("Information", hostJson.RootElement.GetProperty("logging").GetProperty("logLevel").GetProperty("NexusArchive").GetString());
    }

    [Theory]
    [InlineData("ConnectionStrings:Redis", null, "ConnectionStrings:Redis is missing")]
    [InlineData("ConnectionStrings:Postgres", "not a connection string", "ConnectionStrings:Postgres")]
    [InlineData("Archive:PageSize", "0", "Archive:PageSize")]
    [InlineData("Archive:TimeBudget", "soon", "Archive:TimeBudget")]
    public async Task StartAsync_BadSetting_ThrowsNamingTheSetting(string key, string? value, string expected)
    {
        var settings = ValidSettings();
        settings[key] = value;
        using var host = BuildWorker(settings);

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync(CancellationToken.None));

        var messages = ex switch
        {
            OptionsValidationException o => o.Failures,
            // The binder cannot even convert the value: its message names the key.
            InvalidOperationException i => [i.Message],
            _ => throw new Xunit.Sdk.XunitException($"Unexpected {ex.GetType().Name}: {ex.Message}"),
        };
        Assert.Contains(messages, m => m.Contains(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("0 */5 * * * *")]
    [InlineData("*/15 * * * * *")]
    [InlineData("0 0 */2 * * MON-FRI")]
    [InlineData("0 0 2 * * Sun-Sat")]
    [InlineData(" 30 15,45 9-17 * 1-12 MON ")]
    public void Validator_ScheduleTheHostAccepts_Succeeds(string schedule) =>
        Assert.True(new FunctionsOptionsValidator().Validate(null, new FunctionsOptions { ArchiveSchedule = schedule, VerifySchedule = "0 15 * * * *", OffloadSchedule = "0 30 3 * * *" }).Succeeded);

    [Theory]
    [InlineData(null, "ArchiveSchedule is missing")]
    [InlineData("99 * * * * *", "ArchiveSchedule '99 * * * * *' is not a valid NCRONTAB expression: 99 is higher than the maximum allowable value for the [Second] field")]
    [InlineData("0 60 * * * *", "is not a valid NCRONTAB expression: 60 is higher than the maximum allowable value for the [Minute] field")]
    [InlineData("0 0 0 31 2 FUNDAY", "is not a valid NCRONTAB expression")]
    [InlineData("0 */5 * * *", "ArchiveSchedule '0 */5 * * *' has 5 fields; NCRONTAB needs six")]
    [InlineData("0 */5 * * * ; rm", "ArchiveSchedule '0 */5 * * * ; rm'")]
    [InlineData("00:05:00", "has 1 fields")]
    public void Validator_ScheduleTheHostWouldRefuseOrMisread_FailsNamingTheSetting(string? schedule, string expected)
    {
        var result = new FunctionsOptionsValidator().Validate(null, new FunctionsOptions { ArchiveSchedule = schedule, VerifySchedule = "0 15 * * * *", OffloadSchedule = "0 30 3 * * *" });

        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_NoQueueConnection_KeepsTheWorkerUpAndRecordsACriticalProblemNamingTheSetting()
    {
        var settings = ValidSettings();
        settings.Remove("ArchiveQueue");
        using var records = new RecordingLoggerProvider();
        using var host = BuildWorker(settings, records);

        await host.Services.GetServices<IHostedService>().OfType<ScheduleCheck>().Single().StartAsync(CancellationToken.None);

        // Both queues on that connection say so: the record events' trigger and the fan-out over shards.
        var problems = host.Services.GetRequiredService<StartupProblems>().Current;
        Assert.Equal(2, problems.Count);
        Assert.All(problems, p => Assert.StartsWith("ArchiveQueue is missing", p, StringComparison.Ordinal));
        Assert.Contains(records.Records, r => r.EventName == "ArchiveQueueInvalid" && r.Level == LogLevel.Critical);
        Assert.Contains(records.Records, r => r.EventName == "ShardQueueInvalid" && r.Level == LogLevel.Critical);

        // With the managed-identity form of the connection, or the trigger switched off, there is nothing to report.
        settings["ArchiveQueue:queueServiceUri"] = "https://nexusarchive.queue.core.windows.net";
        using var identityHost = BuildWorker(settings, records);
        Assert.True(identityHost.Services.GetRequiredService<IOptions<FunctionsOptions>>().Value.ArchiveQueueConnectionConfigured);
    }

    [Fact]
    public async Task StartAsync_BadSchedule_KeepsTheWorkerUpAndRecordsACriticalProblem()
    {
        var settings = ValidSettings();
        settings["ArchiveSchedule"] = "99 * * * * *";
        using var records = new RecordingLoggerProvider();
        using var host = BuildWorker(settings, records);

        await host.Services.GetServices<IHostedService>().OfType<ScheduleCheck>().Single().StartAsync(CancellationToken.None);

        var problem = Assert.Single(host.Services.GetRequiredService<StartupProblems>().Current);
        Assert.StartsWith("ArchiveSchedule '99 * * * * *' is not a valid NCRONTAB expression", problem, StringComparison.Ordinal);
        var logged = Assert.Single(records.Records, r => r.EventName == "ArchiveScheduleInvalid");
        Assert.Equal(LogLevel.Critical, logged.Level);
        Assert.Contains("ArchiveSchedule", logged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostgresManagedIdentity_Off_NeverAsksForAToken()
    {
        var credential = new RecordingCredential();
        await using var h = await ArchiveHarness.CreateAsync(migrate: false, services: s => s.AddSingleton<TokenCredential>(credential));

        await using var connection = await h.DataSource.OpenConnectionAsync();

        Assert.Empty(credential.Scopes);
    }

    [Fact]
    public async Task PostgresManagedIdentity_On_SignsInWithATokenForTheOssrdbmsScope()
    {
        var credential = new RecordingCredential();
        await using var h = await ArchiveHarness.CreateAsync(
            s =>
            {
                s["Archive:PostgresUseManagedIdentity"] = "true";
                s["ConnectionStrings:Postgres"] = new NpgsqlConnectionStringBuilder(s["ConnectionStrings:Postgres"]) { Password = null }.ConnectionString;
            },
            migrate: false,
            services: s => s.AddSingleton<TokenCredential>(credential));

        await using var connection = await h.DataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("SELECT 1", connection);

        Assert.Equal(1, await command.ExecuteScalarAsync());
        Assert.Contains(PostgresEntraPassword.Scope, credential.Scopes);
    }

    /// <summary>A credential that hands out a fixed token and records what it was asked for; no Azure call.</summary>
    private sealed class RecordingCredential : TokenCredential
    {
        public List<string> Scopes { get; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            lock (Scopes)
            {
                Scopes.AddRange(requestContext.Scopes);
            }

            return new AccessToken("postgres", DateTimeOffset.MaxValue);
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
