using System.Globalization;
using System.Text;
using System.Text.Json;
using Azure.Storage.Queues.Models;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Moq;
using NexusArchive.Functions;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Functions;

/// <summary>Calls the function classes the way the worker does: activated from the container, fed a real HttpRequest.</summary>
internal static class FunctionsTestKit
{
    private static readonly Lazy<IServiceProvider> s_mvc = new(() =>
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMvcCore();
        FunctionsHost.ConfigureJson(services);
        return services.BuildServiceProvider();
    });

    /// <summary>
    /// The app settings a worker starts with, every one valid (the three schedules, the archive queue, what the host
    /// passes a worker it launches), on top of <paramref name="archive"/> (connection strings, key prefix, schemas).
    /// A test changes the one it is about.
    /// </summary>
    public static Dictionary<string, string?> WorkerSettings(IReadOnlyDictionary<string, string?> archive) => new(archive)
    {
        ["ArchiveSchedule"] = "0 */5 * * * *",
        ["VerifySchedule"] = "0 15 * * * *",
        ["OffloadSchedule"] = "0 30 3 * * *",
        ["ArchiveQueueName"] = "nexus-archive-records",
        ["ArchiveQueue"] = "UseDevelopmentStorage=true",
        ["ArchiveShardQueueName"] = "nexus-archive-shards",

        // What the Functions host passes a worker it launches; the worker's gRPC client is built from it at start-up.
        ["Functions:Worker:HostEndpoint"] = "http://127.0.0.1:1",
        ["Functions:Worker:WorkerId"] = "test-worker",
        ["Functions:Worker:RequestId"] = "test-request",
        ["Functions:Worker:GrpcMaxMessageLength"] = "2147483647",
    };

    /// <summary>The worker's own composition (as Program.cs builds it) with <paramref name="settings"/>; not started.</summary>
    public static IHost BuildWorker(Dictionary<string, string?> settings, RecordingLoggerProvider? records = null)
    {
        var builder = FunctionsApplication.CreateBuilder([]);
        builder.Configuration.AddInMemoryCollection(settings);
        FunctionsHost.Configure(builder);
        if (records is not null)
        {
            builder.Logging.AddProvider(records);
        }

        return builder.Build();
    }

    /// <summary><see cref="BuildWorker(Dictionary{string, string?}, RecordingLoggerProvider?)"/> on the harness's servers, key prefix and schemas.</summary>
    public static IHost BuildWorker(ArchiveHarness h, RecordingLoggerProvider records, Action<Dictionary<string, string?>>? configure = null)
    {
        var settings = WorkerSettings(h.Settings);
        configure?.Invoke(settings);
        return BuildWorker(settings, records);
    }

    public static ArchiveHttpFunctions Http(ArchiveHarness h) => Http(h, new StartupProblems());

    public static ArchiveHttpFunctions Http(ArchiveHarness h, StartupProblems problems) => ActivatorUtilities.CreateInstance<ArchiveHttpFunctions>(h.Services, problems);

    public static ArchiveVerifyFunction Verify(ArchiveHarness h) => ActivatorUtilities.CreateInstance<ArchiveVerifyFunction>(h.Services);

    /// <summary>The archive timer with the fan-out queue configured as in the sample (it fans out once an entity is sharded).</summary>
    public static ArchiveTimerFunction Timer(ArchiveHarness h) => Timer(h, new FunctionsOptions
    {
        ArchiveQueueName = "nexus-archive-records",
        ArchiveQueueConnectionConfigured = true,
        ArchiveShardQueueName = "nexus-archive-shards",
    });

    public static ArchiveTimerFunction Timer(ArchiveHarness h, FunctionsOptions options) =>
        ActivatorUtilities.CreateInstance<ArchiveTimerFunction>(h.Services, Microsoft.Extensions.Options.Options.Create(options));

    public static ArchiveShardPassFunction ShardPass(ArchiveHarness h) => ActivatorUtilities.CreateInstance<ArchiveShardPassFunction>(h.Services);

    public static ArchiveRestoreSessionFunction RestoreSession(ArchiveHarness h) => ActivatorUtilities.CreateInstance<ArchiveRestoreSessionFunction>(h.Services);

    public static HttpRequest Post(string? body = null, string? query = null, string path = "/api/archive/run")
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Path = path;
        context.Request.QueryString = query is null ? QueryString.Empty : new QueryString(query);
        context.Request.ContentType = "application/json";
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(body ?? string.Empty));
        return context.Request;
    }

    public static HttpRequest Get(string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        var query = path.IndexOf('?', StringComparison.Ordinal);
        context.Request.Path = query < 0 ? path : path[..query];
        context.Request.QueryString = query < 0 ? QueryString.Empty : new QueryString(path[query..]);
        return context.Request;
    }

    /// <summary>Executes the action result as ASP.NET Core would and returns the status code and the JSON written.</summary>
    public static async Task<(int StatusCode, JsonElement Body)> ExecuteAsync(IActionResult result)
    {
        var context = new DefaultHttpContext { RequestServices = s_mvc.Value };
        context.Response.Body = new MemoryStream();
        await result.ExecuteResultAsync(new ActionContext(context, new RouteData(), new ActionDescriptor()));
        context.Response.Body.Position = 0;
        using var document = await JsonDocument.ParseAsync(context.Response.Body);
        return (context.Response.StatusCode, document.RootElement.Clone());
    }

    /// <summary>Writes <paramref name="count"/> valid messages <paramref name="ageMs"/> in the past (1 ms apart), pipelined.</summary>
    public static async Task WriteMessagesAsync(ArchiveHarness h, int count, string prefix = "m", long ageMs = 60_000) =>
        await h.WriteMessagesAsync(count, i => $"{prefix}-{i:D6}", await h.RedisNowMsAsync() - ageMs, stepMs: 1, content: _ => "hi");

    public static string Str(this JsonElement e, string name) => e.GetProperty(name).GetString()!;

    /// <summary>The trigger metadata the host sends with a queue message (what the function reads of it).</summary>
    public static FunctionContext QueueContext(QueueMessage message)
    {
        var binding = new Mock<BindingContext>();
        binding.Setup(b => b.BindingData).Returns(new Dictionary<string, object?>
        {
            ["Id"] = message.MessageId,
            ["DequeueCount"] = message.DequeueCount.ToString(CultureInfo.InvariantCulture),
        });
        var context = new Mock<FunctionContext>();
        context.Setup(c => c.BindingContext).Returns(binding.Object);
        context.Setup(c => c.InvocationId).Returns(Guid.NewGuid().ToString());
        return context.Object;
    }
}
