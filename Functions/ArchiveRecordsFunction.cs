using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Diagnostics;

namespace NexusArchive.Functions;

/// <summary>
/// <c>POST /api/archive/records</c> with <c>{"records":[{"entity":"user","id":"u-1"}, …]}</c> (at most
/// <see cref="ArchiveRecordsService.MaxRecords"/>): archives exactly those records now and answers, per record,
/// <c>Archived</c>, <c>Unchanged</c>, <c>NotFound</c> or <c>DeadLettered</c> with the reason — once they are committed.
/// For critical writes (account creation, subscription changes) the app makes through the Lua writer and wants durable
/// in seconds, without PostgreSQL credentials. Function key. 400 in the caller's words on a bad body.
/// </summary>
public sealed class ArchiveRecordsFunction(ArchiveRecordsService records)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    [Function("ArchiveRecords")]
    public async Task<IActionResult> ArchiveAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "archive/records")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        RecordsBody? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<RecordsBody>(request.Body, s_json, cancellationToken);
        }
        catch (JsonException ex)
        {
            return Invalid($"The body is not valid JSON: {ex.Message}");
        }

        if (body?.Records is not { } named)
        {
            return Invalid("""The body needs "records": [{"entity": "user", "id": "u-1"}, …].""");
        }

        try
        {
            return new OkObjectResult(await records.ArchiveAsync(named, cancellationToken));
        }
        catch (ArgumentException ex)
        {
            return Invalid(ErrorText.CallersWords(ex));
        }
    }

    private static BadRequestObjectResult Invalid(string detail) =>
        new(new ProblemDetails { Status = StatusCodes.Status400BadRequest, Title = "Invalid records request", Detail = detail });

    private sealed record RecordsBody(List<RecordRef>? Records);
}
