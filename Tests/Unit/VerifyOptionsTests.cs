using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NexusArchive.Core;
using NexusArchive.Core.Configuration;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Unit;

/// <summary><c>Archive:Verify</c>: the bounds of one incremental verify run, validated at start-up naming the setting.</summary>
public sealed class VerifyOptionsTests
{
    [Fact]
    public void Defaults_AreFiftyThousandChangesAndTwentyThousandKeysPerEntityAndRun()
    {
        var options = new ArchiveOptions();

        Assert.Equal(50_000, options.Verify.MaxRecordsPerRun);
        Assert.Equal(20_000, options.Verify.ScanKeysPerRun);
        Assert.True(new ArchiveOptionsValidator().Validate(null, options).Succeeded);
    }

    [Theory]
    [InlineData("MaxRecordsPerRun", 0)]
    [InlineData("MaxRecordsPerRun", -5)]
    [InlineData("MaxRecordsPerRun", 10_000_001)]
    [InlineData("ScanKeysPerRun", 0)]
    [InlineData("ScanKeysPerRun", 10_000_001)]
    public void Validator_OutOfRange_FailsNamingTheSetting(string setting, int value)
    {
        var options = new ArchiveOptions();
        if (setting == "MaxRecordsPerRun")
        {
            options.Verify.MaxRecordsPerRun = value;
        }
        else
        {
            options.Verify.ScanKeysPerRun = value;
        }

        var result = new ArchiveOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains($"Archive:Verify:{setting} must be between 1 and 10000000 (was {value})", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Archive:Verify:MaxRecordsPerRun", "0", "Archive:Verify:MaxRecordsPerRun must be between 1 and 10000000")]
    [InlineData("Archive:Verify:ScanKeysPerRun", "-1", "Archive:Verify:ScanKeysPerRun must be between 1 and 10000000")]
    [InlineData("Archive:Verify:ScanKeysPerRun", "many", "Archive:Verify:ScanKeysPerRun")]
    public async Task HostStart_BadVerifyBound_StopsNamingTheSetting(string key, string value, string expected)
    {
        var messages = await CoreHostStart.FailuresAsync(key, value);

        Assert.Contains(messages, m => m.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Binding_FromTheArchiveVerifySection_SetsBothBounds()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = "127.0.0.1:1,abortConnect=false",
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Database=nexus;Username=archiver",
            ["Archive:Verify:MaxRecordsPerRun"] = "1234",
            ["Archive:Verify:ScanKeysPerRun"] = "567",
        }).Build();
        using var services = new ServiceCollection().AddLogging().AddNexusArchive(configuration).BuildServiceProvider();

        var verify = services.GetRequiredService<IOptions<ArchiveOptions>>().Value.Verify;

        Assert.Equal((1234, 567), (verify.MaxRecordsPerRun, verify.ScanKeysPerRun));
    }
}
