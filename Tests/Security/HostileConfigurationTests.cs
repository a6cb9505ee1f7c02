using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using NexusArchive.Core;
using NexusArchive.Core.Configuration;

namespace NexusArchive.Tests.Security;

/// <summary>Values that would end up in SQL text or Redis key names are validated when the host starts.</summary>
public sealed class HostileConfigurationTests
{
    [Theory]
    [InlineData("Archive:TargetSchema", "public; DROP TABLE x")]
    [InlineData("Archive:TargetSchema", "public\"--")]
    [InlineData("Archive:TargetSchema", "Public")]
    [InlineData("Archive:BookkeepingSchema", "nexus_archive; DROP SCHEMA public CASCADE")]
    [InlineData("Archive:BookkeepingSchema", "x y")]
    [InlineData("Archive:KeyPrefix", "nexus*")]
    [InlineData("Archive:KeyPrefix", "nexus:other")]
    [InlineData("Archive:KeyPrefix", "nex[us]")]
    [InlineData("Archive:KeyPrefix", "a b")]
    [InlineData("Archive:SearchLanguage", "simple'::regconfig, content)); DROP TABLE messages; --")]
    [InlineData("Archive:SearchLanguage", "klingon")]
    [InlineData("Archive:Security:OwnerClaim", "sub' OR '1'='1")]
    [InlineData("Archive:Security:OwnerClaim", "")]
    [InlineData("Archive:Security:RedisTrustedCertificatePath", "/nonexistent/ca.pem")]
    public async Task HostStart_HostileSetting_FailsNamingTheSetting(string key, string value)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = "127.0.0.1:1,abortConnect=false",
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Username=x;Database=y",
            [key] = value,
        });
        builder.Services.AddNexusArchive(builder.Configuration);
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(ex.Failures, f => f.Contains(key, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("public; DROP TABLE x")]
    [InlineData("a\"b")]
    [InlineData("")]
    public void Quote_NonIdentifier_Throws(string value) =>
        Assert.Throws<ArgumentException>(() => Identifiers.Quote(value));

    [Fact]
    public void Validator_DefaultsAndTypicalValues_Accepted()
    {
        var options = new ArchiveOptions { KeyPrefix = "nexus-chat.v2", TargetSchema = "public", BookkeepingSchema = "nexus_archive" };
        var security = new NexusArchive.Core.Security.SecurityOptions { OwnerClaim = "https://nexuschat.example/uid" };
        Assert.True(new NexusArchive.Core.Security.SecurityOptionsValidator().Validate(null, security).Succeeded);
        Assert.True(new ArchiveOptionsValidator().Validate(null, options).Succeeded);
    }
}
