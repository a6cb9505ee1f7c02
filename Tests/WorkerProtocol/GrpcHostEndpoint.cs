using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Tests.WorkerProtocol.Messages;

namespace NexusArchive.Tests.WorkerProtocol;

/// <summary>
/// The Functions host's end of the worker protocol: an in-process Kestrel server on 127.0.0.1 (HTTP/2 cleartext, a port
/// the OS picks) serving <c>AzureFunctionsRpcMessages.FunctionRpc/EventStream</c>. The worker dials it (the
/// <c>--functions-uri</c> it was started with) and the first stream it opens is handed to the test as a
/// <see cref="WorkerStream"/>.
/// </summary>
internal sealed class GrpcHostEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly WorkerStreamAcceptor _acceptor;

    private GrpcHostEndpoint(WebApplication app, WorkerStreamAcceptor acceptor, Uri address)
    {
        _app = app;
        _acceptor = acceptor;
        Address = address;
    }

    /// <summary>What the worker is given as <c>--functions-uri</c>, e.g. <c>http://127.0.0.1:40123/</c>.</summary>
    public Uri Address { get; }

    public static async Task<GrpcHostEndpoint> StartAsync(CancellationToken cancellationToken)
    {
        // The empty builder reads no appsettings and no ASPNETCORE_* variables: only what is configured here.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddLogging();
        builder.Services.AddRouting();
        builder.Services.AddGrpc(grpc =>
        {
            // As the real host: the worker is told int.MaxValue as its limit, so the host side accepts that too.
            grpc.MaxReceiveMessageSize = null;
            grpc.MaxSendMessageSize = null;
        });
        builder.Services.AddSingleton<WorkerStreamAcceptor>();

        var app = builder.Build();
        app.UseRouting();
        app.MapGrpcService<FunctionRpcService>();
        await app.StartAsync(cancellationToken);

        var bound = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new GrpcHostEndpoint(app, app.Services.GetRequiredService<WorkerStreamAcceptor>(), new Uri(bound.TrimEnd('/') + "/"));
    }

    /// <summary>Waits for the worker to open its event stream.</summary>
    public Task<WorkerStream> AcceptWorkerAsync(CancellationToken cancellationToken) => _acceptor.Accepted.WaitAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        _acceptor.CloseAll();

        // A stream still open after that is aborted rather than waited for.
        using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stopTimeout.Token);
        await _app.DisposeAsync();
    }

    /// <summary>The gRPC service: every call is one worker's event stream, pumped until either side ends it.</summary>
    private sealed class FunctionRpcService(WorkerStreamAcceptor acceptor) : FunctionRpc.FunctionRpcBase
    {
        public override Task EventStream(IAsyncStreamReader<StreamingMessage> requestStream, IServerStreamWriter<StreamingMessage> responseStream, ServerCallContext context) =>
            acceptor.RunAsync(requestStream, responseStream, context.CancellationToken);
    }
}

/// <summary>Hands the first event stream to the test; a second one (the .NET worker opens one) is refused.</summary>
internal sealed class WorkerStreamAcceptor : IDisposable
{
    private readonly TaskCompletionSource<WorkerStream> _accepted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _closeAll = new();

    public Task<WorkerStream> Accepted => _accepted.Task;

    public async Task RunAsync(IAsyncStreamReader<StreamingMessage> requestStream, IServerStreamWriter<StreamingMessage> responseStream, CancellationToken callAborted)
    {
        var stream = new WorkerStream();
        if (!_accepted.TrySetResult(stream))
        {
            throw new Grpc.Core.RpcException(new Status(StatusCode.ResourceExhausted, "This test host serves one worker stream."));
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(callAborted, _closeAll.Token);
        await stream.PumpAsync(requestStream, responseStream, linked.Token);
    }

    /// <summary>Ends every open stream (the test is done with the worker).</summary>
    public void CloseAll() => _closeAll.Cancel();

    public void Dispose() => _closeAll.Dispose();
}
