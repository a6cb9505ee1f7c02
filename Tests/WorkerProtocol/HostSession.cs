using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using NexusArchive.Tests.WorkerProtocol.Messages;
using MessageKind = NexusArchive.Tests.WorkerProtocol.Messages.StreamingMessage.ContentOneofCase;

namespace NexusArchive.Tests.WorkerProtocol;

/// <summary>
/// One worker under a stand-in Functions host: the host's gRPC endpoint, the worker process it launched and the event
/// stream between them, with the host's side of each exchange (init, indexing, load, invoke) as a method. Every wait is
/// bounded by the test's budget and ends early when the worker process exits or its stream closes; a failure is an
/// <see cref="Xunit.Sdk.XunitException"/> carrying what the worker said: the exception it returned, its RpcLog
/// messages and the tail of its stdout and stderr.
/// </summary>
internal sealed class HostSession : IAsyncDisposable
{
    /// <summary>A Functions host v4 version string, as the host reports itself in WorkerInitRequest.</summary>
    public const string HostVersion = "4.1041.200.0";

    /// <summary>The worker advertises the base address of its ASP.NET Core listener under this capability.</summary>
    public const string HttpUriCapability = "HttpUri";

    /// <summary>The header that ties a proxied HTTP request to its InvocationRequest.</summary>
    public const string InvocationIdHeader = "x-ms-invocation-id";

    private const int ShownLogMessages = 60;

    private readonly GrpcHostEndpoint _endpoint;
    private readonly FunctionsWorkerProcess _worker;
    private readonly string _appFolder;
    private readonly TimeSpan _budget;
    private readonly CancellationToken _budgetToken;
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private WorkerStream? _stream;

    private HostSession(GrpcHostEndpoint endpoint, FunctionsWorkerProcess worker, string appFolder, TimeSpan budget, CancellationToken budgetToken)
    {
        _endpoint = endpoint;
        _worker = worker;
        _appFolder = appFolder;
        _budget = budget;
        _budgetToken = budgetToken;
    }

    /// <summary>The worker's answer to WorkerInitRequest (set by <see cref="InitializeAsync"/>).</summary>
    public WorkerInitResponse? Init { get; private set; }

    /// <summary>Starts the host endpoint, launches the worker against it and waits for the worker's StartStream.</summary>
    public static async Task<HostSession> StartAsync(PublishedApp app, IReadOnlyDictionary<string, string?> appSettings, TimeSpan budget, CancellationToken budgetToken)
    {
        var endpoint = await GrpcHostEndpoint.StartAsync(budgetToken);
        var workerId = Guid.NewGuid().ToString();
        FunctionsWorkerProcess worker;
        try
        {
            worker = FunctionsWorkerProcess.Start(app, endpoint.Address, workerId, requestId: Guid.NewGuid().ToString(), appSettings);
        }
        catch
        {
            await endpoint.DisposeAsync();
            throw;
        }

        var session = new HostSession(endpoint, worker, app.Folder, budget, budgetToken);
        try
        {
            session._stream = await session.AwaitAsync(endpoint.AcceptWorkerAsync(budgetToken), "the worker to open its gRPC event stream");
            var start = await session.ExpectAsync(MessageKind.StartStream, null, "StartStream");
            if (start.StartStream.WorkerId != workerId)
            {
                throw session.Failure($"StartStream named worker '{start.StartStream.WorkerId}', but it was started as '{workerId}'.");
            }

            return session;
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    /// <summary>WorkerInitRequest → WorkerInitResponse, which must report success.</summary>
    public async Task<WorkerInitResponse> InitializeAsync()
    {
        var request = new StreamingMessage
        {
            RequestId = NewRequestId(),
            WorkerInitRequest = new WorkerInitRequest
            {
                HostVersion = HostVersion,
                WorkerDirectory = _appFolder,
                FunctionAppDirectory = _appFolder,
                Capabilities = { ["MultiStream"] = "10" },
            },
        };
        var response = (await SendAndExpectAsync(request, MessageKind.WorkerInitResponse, "WorkerInitResponse")).WorkerInitResponse;
        RequireSuccess(response.Result, "WorkerInitResponse");
        Init = response;
        return response;
    }

    /// <summary>FunctionsMetadataRequest → FunctionMetadataResponse: the functions the worker indexed itself.</summary>
    public async Task<IReadOnlyList<RpcFunctionMetadata>> IndexFunctionsAsync()
    {
        var request = new StreamingMessage
        {
            RequestId = NewRequestId(),
            FunctionsMetadataRequest = new FunctionsMetadataRequest { FunctionAppDirectory = _appFolder },
        };
        var response = (await SendAndExpectAsync(request, MessageKind.FunctionMetadataResponse, "FunctionMetadataResponse")).FunctionMetadataResponse;
        RequireSuccess(response.Result, "FunctionMetadataResponse");
        if (response.UseDefaultMetadataIndexing)
        {
            throw Failure("The worker asked for host indexing (use_default_metadata_indexing); an isolated worker built with the Worker SDK indexes its own functions.");
        }

        return [.. response.FunctionMetadataResults];
    }

    /// <summary>
    /// FunctionLoadRequest → FunctionLoadResponse for one indexed function, built as the host builds it: the function id
    /// the worker gave, name, script file and entry point, and one BindingInfo per raw binding.
    /// </summary>
    public async Task LoadAsync(RpcFunctionMetadata indexed)
    {
        var metadata = new RpcFunctionMetadata
        {
            Name = indexed.Name,
            Directory = indexed.Directory,
            ScriptFile = indexed.ScriptFile,
            EntryPoint = indexed.EntryPoint,
            IsProxy = false,
        };
        foreach (var binding in RawBindings(indexed))
        {
            metadata.Bindings.Add(binding.Name, binding.Info);
        }

        foreach (var (key, value) in indexed.Properties)
        {
            metadata.Properties.Add(key, value);
        }

        var request = new StreamingMessage
        {
            RequestId = NewRequestId(),
            FunctionLoadRequest = new FunctionLoadRequest { FunctionId = indexed.FunctionId, Metadata = metadata },
        };
        var response = (await SendAndExpectAsync(request, MessageKind.FunctionLoadResponse, $"FunctionLoadResponse for {indexed.Name}",
            m => m.FunctionLoadResponse.FunctionId == indexed.FunctionId)).FunctionLoadResponse;
        RequireSuccess(response.Result, $"FunctionLoadResponse for {indexed.Name}");
    }

    /// <summary>InvocationRequest → InvocationResponse (whatever its status; see <see cref="RequireSuccess(InvocationResponse, string)"/>).</summary>
    public Task<InvocationResponse> InvokeAsync(RpcFunctionMetadata function, params ParameterBinding[] inputs) =>
        InvokeAsync(function, new Dictionary<string, TypedData>(), inputs);

    /// <summary>As <see cref="InvokeAsync(RpcFunctionMetadata, ParameterBinding[])"/>, with the trigger's metadata (a queue message's Id, DequeueCount, …).</summary>
    public async Task<InvocationResponse> InvokeAsync(RpcFunctionMetadata function, IReadOnlyDictionary<string, TypedData> triggerMetadata, params ParameterBinding[] inputs)
    {
        var request = InvocationRequestFor(function, inputs);
        foreach (var (name, value) in triggerMetadata)
        {
            request.TriggerMetadata[name] = value;
        }

        return await ExpectInvocationResponseAsync(function, SendInvocation(request));
    }

    /// <summary>
    /// An HTTP-triggered function under the ASP.NET Core integration, as the host runs it: the InvocationRequest goes
    /// over gRPC and the HTTP request itself is forwarded to the worker's own listener (capability
    /// <c>HttpUri</c>) with the invocation id in a header; the function's response comes back on that HTTP exchange.
    /// The path is host.json's <c>extensions.http.routePrefix</c> (default <c>api</c>) and the trigger's route, with
    /// <paramref name="routeValues"/> filled in (and sent as the host sends them). The invocation must succeed; the HTTP
    /// status and body are returned.
    /// </summary>
    public async Task<(HttpStatusCode StatusCode, string Body)> InvokeHttpAsync(
        RpcFunctionMetadata function, HttpMethod method, IReadOnlyDictionary<string, string>? routeValues = null)
    {
        if (Init is null || !Init.Capabilities.TryGetValue(HttpUriCapability, out var httpUri) || string.IsNullOrEmpty(httpUri))
        {
            throw Failure($"The worker did not advertise the {HttpUriCapability} capability, so the host would have no listener to forward {function.Name}'s HTTP request to.");
        }

        var trigger = RawBindings(function).FirstOrDefault(b => b.Info.Type.Equals("httpTrigger", StringComparison.OrdinalIgnoreCase));
        if (trigger.Name is null)
        {
            throw Failure($"{function.Name} has no httpTrigger binding: {string.Join(", ", function.RawBindings)}");
        }

        // Route values as the host sends them: in the URL, among the request's params, and as trigger metadata (the
        // binding data a function's other parameters, e.g. `string id`, are bound from).
        var route = trigger.Route ?? function.Name;
        foreach (var (name, value) in routeValues ?? new Dictionary<string, string>())
        {
            route = route.Replace($"{{{name}}}", Uri.EscapeDataString(value), StringComparison.Ordinal);
        }

        var path = $"{RoutePrefix()}/{route}";
        var forwardTo = new Uri(new Uri(httpUri), path);
        var http = new RpcHttp { Method = method.Method, Url = $"http://localhost/{path}" };
        var request = InvocationRequestFor(function, new ParameterBinding { Name = trigger.Name, Data = new TypedData { Http = http } });
        foreach (var (name, value) in routeValues ?? new Dictionary<string, string>())
        {
            http.Params[name] = value;
            request.TriggerMetadata[name] = new TypedData { String = value };
        }
        var invocationId = SendInvocation(request);

        using var forwarded = new HttpRequestMessage(method, forwardTo);
        forwarded.Headers.Add(InvocationIdHeader, invocationId);
        var exchange = _http.SendAsync(forwarded, _budgetToken);
        var invocation = await ExpectInvocationResponseAsync(function, invocationId);

        // A failed invocation is reported as such, not as whatever the HTTP side then does.
        _ = exchange.ContinueWith(t => t.Exception, TaskScheduler.Default);
        RequireSuccess(invocation, function.Name);
        using var response = await AwaitAsync(exchange, $"the HTTP response of {function.Name} from the worker's listener {forwardTo}");
        var body = await AwaitAsync(response.Content.ReadAsStringAsync(_budgetToken), $"the HTTP body of {function.Name}");
        return (response.StatusCode, body);
    }

    /// <summary>Fails the test, with the worker's own account, unless the invocation succeeded.</summary>
    public void RequireSuccess(InvocationResponse response, string functionName) =>
        RequireSuccess(response.Result, $"The invocation of {functionName} ({response.InvocationId})");

    /// <summary>A test failure whose message carries the worker's diagnostics after <paramref name="headline"/>.</summary>
    public Xunit.Sdk.XunitException Failure(string headline) => new(headline + "\n" + Diagnostics());

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _worker.DisposeAsync();
        await _endpoint.DisposeAsync();
    }

    private string SendInvocation(InvocationRequest request)
    {
        Stream.Send(new StreamingMessage { InvocationRequest = request });
        return request.InvocationId;
    }

    private async Task<InvocationResponse> ExpectInvocationResponseAsync(RpcFunctionMetadata function, string invocationId) =>
        (await ExpectAsync(MessageKind.InvocationResponse, m => m.InvocationResponse.InvocationId == invocationId, $"the InvocationResponse of {function.Name}"))
            .InvocationResponse;

    private static InvocationRequest InvocationRequestFor(RpcFunctionMetadata function, params ParameterBinding[] inputs)
    {
        // As the host does: a W3C traceparent of the host's activity and its process id among the trace attributes.
        var request = new InvocationRequest
        {
            InvocationId = Guid.NewGuid().ToString(),
            FunctionId = function.FunctionId,
            TraceContext = new RpcTraceContext
            {
                TraceParent = $"00-{ActivityTraceId.CreateRandom()}-{ActivitySpanId.CreateRandom()}-00",
                TraceState = string.Empty,
                Attributes = { ["ProcessId"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture) },
            },
        };
        request.InputData.Add(inputs);
        return request;
    }

    /// <summary>The raw bindings (JSON) the worker indexed, as the host reads them into BindingInfo.</summary>
    public static IReadOnlyList<(string Name, BindingInfo Info, string? Route)> RawBindings(RpcFunctionMetadata function)
    {
        var bindings = new List<(string, BindingInfo, string?)>();
        foreach (var raw in function.RawBindings)
        {
            using var json = JsonDocument.Parse(raw);
            var root = json.RootElement;
            var info = new BindingInfo
            {
                Type = Property(root, "type") ?? string.Empty,
                Direction = Property(root, "direction")?.ToLowerInvariant() switch
                {
                    "out" => BindingInfo.Types.Direction.Out,
                    "inout" => BindingInfo.Types.Direction.Inout,
                    _ => BindingInfo.Types.Direction.In,
                },
                DataType = Property(root, "dataType")?.ToLowerInvariant() switch
                {
                    "string" => BindingInfo.Types.DataType.String,
                    "binary" => BindingInfo.Types.DataType.Binary,
                    "stream" => BindingInfo.Types.DataType.Stream,
                    _ => BindingInfo.Types.DataType.Undefined,
                },
            };
            bindings.Add((Property(root, "name") ?? string.Empty, info, Property(root, "route")));
        }

        return bindings;
    }

    private string RoutePrefix()
    {
        var hostJson = Path.Combine(_appFolder, "host.json");
        if (!File.Exists(hostJson))
        {
            return "api";
        }

        using var json = JsonDocument.Parse(File.ReadAllText(hostJson));
        return json.RootElement.TryGetProperty("extensions", out var extensions)
            && extensions.TryGetProperty("http", out var http)
            && http.TryGetProperty("routePrefix", out var prefix)
            && prefix.ValueKind == JsonValueKind.String
                ? prefix.GetString()!.Trim('/')
                : "api";
    }

    private static string? Property(JsonElement binding, string name) =>
        binding.EnumerateObject().FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase)) is { Value.ValueKind: JsonValueKind.String } property
            ? property.Value.GetString()
            : null;

    private WorkerStream Stream => _stream ?? throw new InvalidOperationException("The worker has not opened its stream yet.");

    private async Task<StreamingMessage> SendAndExpectAsync(StreamingMessage request, MessageKind replyKind, string what, Func<StreamingMessage, bool>? match = null)
    {
        Stream.Send(request);

        // The worker answers a host request with the same request id.
        return await ExpectAsync(replyKind, m => m.RequestId == request.RequestId && (match is null || match(m)), what);
    }

    private Task<StreamingMessage> ExpectAsync(MessageKind kind, Func<StreamingMessage, bool>? match, string what) =>
        AwaitAsync(Stream.ReceiveAsync(kind, match, _budgetToken), what);

    /// <summary>Awaits <paramref name="task"/> unless the worker exits, its stream ends or the budget runs out first.</summary>
    private async Task<T> AwaitAsync<T>(Task<T> task, string what)
    {
        try
        {
            var first = await Task.WhenAny(task, _worker.Exited);
            if (first != task && !task.IsCompleted)
            {
                _ = task.ContinueWith(t => t.Exception, TaskScheduler.Default);
                throw Failure($"Waiting for {what}: the worker process exited (code {_worker.ExitCode}).");
            }

            return await task;
        }
        catch (OperationCanceledException) when (_budgetToken.IsCancellationRequested)
        {
            throw Failure($"Waiting for {what}: nothing within the test's budget of {_budget.TotalSeconds:F0} s.");
        }
        catch (WorkerStreamEndedException ended)
        {
            throw Failure($"Waiting for {what}: {ended.Message}.");
        }
        catch (HttpRequestException http)
        {
            throw Failure($"Waiting for {what}: {http.Message}");
        }
    }

    private void RequireSuccess(StatusResult? result, string what)
    {
        if (result is null)
        {
            throw Failure($"{what} carried no status.");
        }

        if (result.Status != StatusResult.Types.Status.Success)
        {
            throw Failure($"{what} reported {result.Status}: {Describe(result.Exception)}{(string.IsNullOrEmpty(result.Result) ? string.Empty : "\n" + result.Result)}");
        }
    }

    private string Diagnostics()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Worker process {_worker.ProcessId}: ")
            .Append(_worker.ExitCode is { } code ? $"exited with code {code}" : "running")
            .Append(". Event stream: ")
            .Append(_stream is null ? "never opened" : _stream.EndReason ?? "open")
            .AppendLine(".");

        var logs = _stream?.Logs ?? [];
        text.AppendLine(CultureInfo.InvariantCulture, $"Worker log over gRPC (RpcLog, {logs.Count} messages, the last {Math.Min(logs.Count, ShownLogMessages)}):");
        foreach (var log in logs.TakeLast(ShownLogMessages))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  [{log.Level}] {log.Category}: {log.Message}");
            if (log.Exception is not null)
            {
                text.AppendLine("    " + Describe(log.Exception).Replace("\n", "\n    ", StringComparison.Ordinal));
            }
        }

        text.AppendLine("Worker stdout/stderr (last lines):").AppendLine(_worker.OutputTail());
        return text.ToString();
    }

    /// <summary>The worker's exception as it sent it (its message is usually Exception.ToString()), with the stack when that lacks it.</summary>
    private static string Describe(RpcException? exception)
    {
        if (exception is null)
        {
            return "(no exception)";
        }

        var text = string.IsNullOrEmpty(exception.Type) ? exception.Message : $"{exception.Type}: {exception.Message}";
        return string.IsNullOrEmpty(exception.StackTrace) || text.Contains(exception.StackTrace, StringComparison.Ordinal)
            ? text
            : text + "\n" + exception.StackTrace;
    }

    private static string NewRequestId() => Guid.NewGuid().ToString();
}
