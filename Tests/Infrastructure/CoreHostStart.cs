using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using NexusArchive.Core;

namespace NexusArchive.Tests.Infrastructure;

/// <summary>Starts a host composed with <c>AddNexusArchive</c> and one setting overridden, and returns why start-up failed.</summary>
internal static class CoreHostStart
{
    /// <summary>
    /// The messages of the start-up failure with <paramref name="key"/> = <paramref name="value"/> (valid connection
    /// strings otherwise): options validation failures, or the binder's message when it cannot convert the value.
    /// </summary>
    public static async Task<IReadOnlyList<string>> FailuresAsync(string key, string value)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = "127.0.0.1:1,abortConnect=false",
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Database=nexus;Username=archiver",
            [key] = value,
        });
        builder.Services.AddNexusArchive(builder.Configuration);
        using var host = builder.Build();

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync(CancellationToken.None));
        return ex switch
        {
            OptionsValidationException o => [.. o.Failures],
            InvalidOperationException i => [i.Message], // the binder cannot convert the value; its message names the key
            _ => throw new Xunit.Sdk.XunitException($"Unexpected {ex.GetType().Name}: {ex.Message}"),
        };
    }
}
