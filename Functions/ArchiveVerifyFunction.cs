using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Verification;

namespace NexusArchive.Functions;

/// <summary>
/// <c>GET /api/archive/verify[?entity=message&amp;entity=…]</c> compares Redis and PostgreSQL record by record and returns
/// the report (always 200; <c>ok</c> says whether there is a real gap or difference). <see cref="VerifyService"/> records
/// the metric <c>nexus_archive.verify.gaps</c> — real gaps = 0 is the invariant to alert on. A full verify reads every
/// record once: call it from a schedule sized to the data (an Azure Monitor availability test, a Logic App), not per minute.
/// The bounded check that runs on its own schedule is <see cref="ArchiveVerifyTimerFunction"/>. Each verify is recorded
/// in <c>{bookkeeping}.verifications</c> (trigger <c>http</c>) and shows in status as <c>lastVerification</c>.
/// </summary>
public sealed class ArchiveVerifyFunction(VerifyService verify, EntityCatalog catalog)
{
    public const string Trigger = "http";

    [Function("ArchiveVerify")]
    public async Task<IActionResult> VerifyAsync(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "archive/verify")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var entities = request.Query["entity"].Where(e => !string.IsNullOrWhiteSpace(e)).Select(e => e!).ToList();
        if (KickRequest.UnknownEntities(catalog, entities) is { } unknown)
        {
            return Invalid(unknown);
        }

        try
        {
            return new OkObjectResult(await verify.VerifyAsync(new VerifyRequest(entities, Trigger: Trigger), cancellationToken));
        }
        catch (ArgumentException ex)
        {
            return Invalid(ErrorText.CallersWords(ex));
        }
    }

    private static BadRequestObjectResult Invalid(string detail) =>
        new(new ProblemDetails { Status = StatusCodes.Status400BadRequest, Title = "Invalid verify request", Detail = detail });
}
