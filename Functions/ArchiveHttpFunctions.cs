using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;

namespace NexusArchive.Functions;

/// <summary>
/// <c>POST /api/archive/run</c> runs one bounded pass synchronously and returns its summary (the platform cuts
/// HTTP responses at 230 s, so the pass is capped at <see cref="KickRequest.MaxKickDuration"/>);
/// <c>GET /api/archive/status</c> reports checkpoints, lag, backlog, recent runs and open dead letters (503 with the
/// problems while <see cref="StartupProblems"/> holds any). A kick answers 409 only when no requested entity could be
/// worked (another pass held them all); when some were archived and others busy it answers 200 with each entity's status.
/// Both need a function key; the host checks it before we run.
/// </summary>
public sealed class ArchiveHttpFunctions(
    ArchiveService archive, StatusService status, EntityCatalog entities, StartupProblems startupProblems, ILogger<ArchiveHttpFunctions> logger)
{
    public const string Trigger = "http";

    [Function("ArchiveRun")]
    public async Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "archive/run")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var parsed = await KickRequest.ParseAsync(request, entities, cancellationToken);
        if (parsed.Error is not null)
        {
            Log.KickRejected(logger, parsed.Error);
            return new BadRequestObjectResult(new ProblemDetails
            {
                Status = StatusCodes.Status400BadRequest,
                Title = "Invalid archive request",
                Detail = parsed.Error,
            });
        }

        Log.KickReceived(logger, parsed.Entities.Count == 0 ? "(configured)" : string.Join(",", parsed.Entities), parsed.MaxDuration);
        var run = await archive.RunAsync(new ArchiveRunRequest(Trigger, parsed.Entities, parsed.MaxDuration), cancellationToken);
        var statusCode = run.Status switch
        {
            RunStatus.Succeeded or RunStatus.Partial => StatusCodes.Status200OK,
            RunStatus.Conflict => StatusCodes.Status409Conflict,
            _ => StatusCodes.Status500InternalServerError,
        };
        Log.KickAnswered(logger, run.RunId, statusCode, run.Status.ToString());
        return new ObjectResult(run) { StatusCode = statusCode };
    }

    [Function("ArchiveStatus")]
    public async Task<IActionResult> StatusAsync(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "archive/status")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        var report = await status.GetAsync(cancellationToken);
        var problems = startupProblems.Current;
        if (problems.Count == 0)
        {
            return new OkObjectResult(report);
        }

        // Loud for availability tests and alerts: the app runs, but something found at start-up needs an operator.
        // Logged again here because the start-up event leaves the worker before the host's log channel is up (it
        // reaches Application Insights directly); this one also shows in the host's log.
        Log.NeedsAttention(logger, string.Join(" ", problems));
        var details = new ProblemDetails
        {
            Status = StatusCodes.Status503ServiceUnavailable,
            Title = "NexusArchive needs attention",
            Detail = string.Join(" ", problems),
        };
        details.Extensions["problems"] = problems;
        details.Extensions["archiveStatus"] = report;
        return new ObjectResult(details) { StatusCode = StatusCodes.Status503ServiceUnavailable };
    }
}
