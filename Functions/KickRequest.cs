using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using NexusArchive.Core.Entities;

namespace NexusArchive.Functions;

/// <summary>
/// What a kick asks for, from the query (<c>?entities=user,message&amp;maxDuration=00:01:00</c>) and/or a JSON
/// body (<c>{"entities":["message"],"maxDuration":"00:01:00"}</c>); the body wins where both say something.
/// </summary>
internal sealed record KickRequest(IReadOnlyList<string> Entities, TimeSpan MaxDuration, string? Error)
{
    /// <summary>The longest pass a kick runs: well below the 230 s at which the platform cuts an HTTP response.</summary>
    public static readonly TimeSpan MaxKickDuration = TimeSpan.FromSeconds(200);

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    public static async Task<KickRequest> ParseAsync(HttpRequest request, EntityCatalog catalog, CancellationToken cancellationToken)
    {
        var entities = request.Query["entities"]
            .SelectMany(v => (v ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .ToList();
        string? duration = request.Query["maxDuration"];

        var body = await new StreamReader(request.Body).ReadToEndAsync(cancellationToken);
        if (!string.IsNullOrWhiteSpace(body))
        {
            Body? parsed;
            try
            {
                parsed = JsonSerializer.Deserialize<Body>(body, s_json);
            }
            catch (JsonException ex)
            {
                return Invalid($"The body is not a valid JSON request ({Describe(ex)}). "
                    + "Expected {\"entities\":[\"message\"],\"maxDuration\":\"00:01:00\"}, both optional.");
            }

            if (parsed is null)
            {
                return Invalid("The body must be a JSON object such as {\"entities\":[\"message\"],\"maxDuration\":\"00:01:00\"}.");
            }

            if (parsed.Entities is not null)
            {
                entities = [.. parsed.Entities];
            }

            duration = parsed.MaxDuration ?? duration;
        }

        if (UnknownEntities(catalog, entities) is { } unknown)
        {
            return Invalid(unknown);
        }

        var maxDuration = MaxKickDuration;
        if (!string.IsNullOrWhiteSpace(duration))
        {
            if (!TimeSpan.TryParse(duration, CultureInfo.InvariantCulture, out var requested) || requested <= TimeSpan.Zero)
            {
                return Invalid($"maxDuration '{duration}' is not a positive duration (hh:mm:ss, e.g. 00:01:00).");
            }

            maxDuration = requested < MaxKickDuration ? requested : MaxKickDuration;
        }

        return new KickRequest(entities, maxDuration, null);
    }

    /// <summary>Null when every name is a known entity; otherwise the message a caller gets (kick and verify say the same).</summary>
    public static string? UnknownEntities(EntityCatalog catalog, IEnumerable<string> entities)
    {
        var unknown = entities.Where(e => catalog.Find(e) is null).ToList();
        return unknown.Count == 0
            ? null
            : $"Unknown entity '{string.Join("', '", unknown)}'. Known entities: {string.Join(", ", catalog.All.Select(e => e.Name))}.";
    }

    private static KickRequest Invalid(string error) => new([], TimeSpan.Zero, error);

    /// <summary>The parser's complaint without .NET type names.</summary>
    private static string Describe(JsonException ex)
    {
        var message = ex.Message.Split(" Path:")[0].TrimEnd('.');
        var unmapped = message.IndexOf(" could not be mapped", StringComparison.Ordinal);
        var converted = message.IndexOf(" could not be converted", StringComparison.Ordinal);
        return unmapped > 0 ? message[..unmapped] + " is not a known property"
            : converted > 0 ? $"wrong type at {ex.Path}"
            : message;
    }

    private sealed record Body(List<string>? Entities, string? MaxDuration);
}
