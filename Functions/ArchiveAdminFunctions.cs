using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using NexusArchive.Core.Admin;
using NexusArchive.Core.Sink;

namespace NexusArchive.Functions;

/// <summary>
/// A user's data-subject requests over HTTP, at <b>admin</b> authorization level: the host's master (admin) key, never
/// a function key (the host answers 401 before we run). Routes stay under <c>archive/</c> because the host refuses
/// function routes that begin with <c>admin</c> or <c>runtime</c>. Each call is written to <c>{bookkeeping}.admin_audit</c>
/// with the caller (<see cref="Actor"/>), never a key. docs/erase.md.
/// <list type="bullet">
/// <item><c>GET /api/archive/users/{id}/export</c>: NDJSON stream of everything archived for the user; 404 when nothing is.</item>
/// <item><c>POST /api/archive/users/{id}/erase[?dryRun=true]</c>: the right to be forgotten; 200 with the counts, 409
/// when an archive pass kept a lease too long (nothing changed; try again).</item>
/// </list>
/// </summary>
public sealed class ArchiveAdminFunctions(ExportService export, EraseService erase)
{
    [Function("ArchiveExportUser")]
    public async Task<IActionResult> ExportAsync(
        [HttpTrigger(AuthorizationLevel.Admin, "get", Route = "archive/users/{id}/export")] HttpRequest request,
        string id,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(id))
        {
            return Invalid("A user id is required.");
        }

        var counts = await export.CountAsync(id, cancellationToken);
        if (counts.Values.Sum() == 0)
        {
            return new NotFoundObjectResult(new ProblemDetails { Status = StatusCodes.Status404NotFound, Title = "Nothing archived", Detail = $"The archive holds nothing for user '{id}'." });
        }

        return new NdjsonExportResult(export, id, Actor(request));
    }

    [Function("ArchiveEraseUser")]
    public async Task<IActionResult> EraseAsync(
        [HttpTrigger(AuthorizationLevel.Admin, "post", Route = "archive/users/{id}/erase")] HttpRequest request,
        string id,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(id))
        {
            return Invalid("A user id is required.");
        }

        var dryRun = request.Query["dryRun"] is { Count: > 0 } value && bool.TryParse(value, out var parsed) && parsed;
        try
        {
            return new OkObjectResult(await erase.EraseAsync(new EraseRequest(id, dryRun, Actor(request)), cancellationToken));
        }
        catch (EntityBusyException ex)
        {
            return new ConflictObjectResult(new ProblemDetails { Status = StatusCodes.Status409Conflict, Title = "Archive busy", Detail = ex.Message + " Nothing was erased; try again." });
        }
    }

    /// <summary>Who called, for the audit trail: the App Service authentication principal when present, and the client address.</summary>
    internal static string Actor(HttpRequest request)
    {
        var principal = request.Headers["X-MS-CLIENT-PRINCIPAL-NAME"].FirstOrDefault();
        return $"http:{(string.IsNullOrWhiteSpace(principal) ? "admin-key" : principal)}@{request.HttpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown"}";
    }

    private static BadRequestObjectResult Invalid(string detail) =>
        new(new ProblemDetails { Status = StatusCodes.Status400BadRequest, Title = "Invalid request", Detail = detail });

    /// <summary>Streams the export straight into the response body, one page at a time.</summary>
    private sealed class NdjsonExportResult(ExportService export, string userId, string actor) : IActionResult
    {
        public async Task ExecuteResultAsync(ActionContext context)
        {
            var response = context.HttpContext.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/x-ndjson; charset=utf-8";
            response.Headers.ContentDisposition = $"attachment; filename=\"nexus-export-{Uri.EscapeDataString(userId)}.ndjson\"";
            await export.ExportAsync(userId, response.Body, actor, context.HttpContext.RequestAborted);
        }
    }
}
