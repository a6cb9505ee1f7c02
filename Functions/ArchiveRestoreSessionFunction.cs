using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Restore;

namespace NexusArchive.Functions;

/// <summary>
/// <c>POST /api/archive/sessions/{id}/restore</c> brings one chat session (the session, its messages, their attachments)
/// back into Redis from the archive through the Lua writer and answers once Redis holds it again; the app calls it when a
/// user opens a session that was offloaded to cold storage (marker <c>{prefix}:offloaded:{userId}</c>). One call to
/// <see cref="RestoreService"/>: it never overwrites a newer record, and for an offloaded session it clears the marker and
/// the ledger row once every row is back. Safe to repeat: a session already in Redis is skipped record by record.
/// <list type="bullet">
/// <item>200: the restore report (<c>written</c>, <c>skipped</c> = already in Redis, <c>offloadedRestored</c>, per entity <c>rows</c>).</item>
/// <item>404: the archive holds no row of the session (nothing to restore; a session not archived yet is still in Redis).</item>
/// <item>500: the writer refused archived rows (the others were written, an offloaded session keeps its marker): a data
/// problem on our side that a retry does not fix; the body names the rows and reasons.</item>
/// <item>400: an id that cannot be a session id.</item>
/// </list>
/// </summary>
public sealed class ArchiveRestoreSessionFunction(RestoreService restore, ILogger<ArchiveRestoreSessionFunction> logger)
{
    [Function("ArchiveRestoreSession")]
    public async Task<IActionResult> RestoreAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "archive/sessions/{id}/restore")] HttpRequest request,
        string id,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (InvalidId(id) is { } invalid)
        {
            return Invalid(invalid);
        }

        RestoreReport report;
        try
        {
            report = await restore.RestoreAsync(new RestoreRequest(SessionId: id), cancellationToken);
        }
        catch (ArgumentException ex)
        {
            return Invalid(ErrorText.CallersWords(ex));
        }

        var rows = report.Entities.Sum(e => e.Rows);
        ObjectResult result;
        if (rows == 0)
        {
            result = new NotFoundObjectResult(new ProblemDetails
            {
                Status = StatusCodes.Status404NotFound,
                Title = "Session not in the archive",
                Detail = $"The archive holds no row of session '{id}' (no session, message or attachment): there is nothing to restore.",
            });
        }
        else if (report.Refused > 0)
        {
            var first = report.Entities.SelectMany(e => e.Refusals).FirstOrDefault();
            var details = new ProblemDetails
            {
                Status = StatusCodes.Status500InternalServerError,
                Title = "Session restore incomplete",
                Detail = $"The record writer refused {report.Refused} of {rows} archived rows of session '{id}'; the other rows are in Redis, "
                    + $"and an offloaded session keeps its offload marker until every row can be restored.{(first is null ? string.Empty : $" First: {first.Reason}")}",
            };
            details.Extensions["restore"] = report;
            result = new ObjectResult(details) { StatusCode = StatusCodes.Status500InternalServerError };
        }
        else
        {
            result = new OkObjectResult(report);
        }

        Log.SessionRestoreAnswered(logger, id, result.StatusCode ?? StatusCodes.Status200OK,
            rows, report.Written, report.Skipped, report.Refused, report.OffloadedRestored, report.DurationMs);
        return result;
    }

    /// <summary>Null for an id that can name a session; else the caller's problem with it.</summary>
    private static string? InvalidId(string? id) =>
        string.IsNullOrWhiteSpace(id) ? "The session id is empty."
        : id.Any(char.IsControl) ? "The session id contains a control character."
        : null;

    private static BadRequestObjectResult Invalid(string detail) =>
        new(new ProblemDetails { Status = StatusCodes.Status400BadRequest, Title = "Invalid restore request", Detail = detail });
}
