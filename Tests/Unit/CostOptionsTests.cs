using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NexusArchive.Core;
using NexusArchive.Core.Cost;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Unit;

/// <summary><c>Archive:Cost</c>: prices and the growth window, validated at start-up naming the setting.</summary>
public sealed class CostOptionsTests
{
    [Fact]
    public void Defaults_AreTheDocumentedListPricesAndAWeekOfHistory()
    {
        var options = new CostOptions();

        Assert.Equal((0.125m, 0.20m, 0.25m), (options.PostgresDiskPerGbMonth, options.RedisPer100kCommands, options.RedisStoragePerGbMonth));
        Assert.Equal(CostOptions.DefaultPricesAsOf, options.PricesAsOf);
        Assert.Equal(TimeSpan.FromDays(7), options.GrowthWindow);
        Assert.True(new CostOptionsValidator().Validate(null, options).Succeeded);
    }

    [Theory]
    [InlineData("Archive:Cost:PostgresDiskPerGbMonth", "-0.01", "Archive:Cost:PostgresDiskPerGbMonth must be between 0 and 1000 US dollars (was -0.01)")]
    [InlineData("Archive:Cost:RedisPer100kCommands", "1000.5", "Archive:Cost:RedisPer100kCommands must be between 0 and 1000 US dollars (was 1000.5)")]
    [InlineData("Archive:Cost:RedisStoragePerGbMonth", "-1", "Archive:Cost:RedisStoragePerGbMonth must be between 0 and 1000 US dollars (was -1)")]
    [InlineData("Archive:Cost:PricesAsOf", "3 Dec 2026", "Archive:Cost:PricesAsOf must be a date written yyyy-MM-dd (was '3 Dec 2026')")]
    [InlineData("Archive:Cost:GrowthWindow", "00:30:00", "Archive:Cost:GrowthWindow must be between 01:00:00 and 365.00:00:00 (was 00:30:00)")]
    [InlineData("Archive:Cost:GrowthWindow", "366.00:00:00", "Archive:Cost:GrowthWindow must be between 01:00:00 and 365.00:00:00")]
    [InlineData("Archive:Cost:RedisPer100kCommands", "cheap", "Archive:Cost:RedisPer100kCommands")]
    public async Task HostStart_BadCostSetting_StopsNamingTheSetting(string key, string value, string expected)
    {
        var messages = await CoreHostStart.FailuresAsync(key, value);

        Assert.Contains(messages, m => m.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Binding_FromTheArchiveCostSection_SetsEverySetting()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = "127.0.0.1:1,abortConnect=false",
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Database=nexus;Username=archiver",
            ["Archive:Cost:PostgresDiskPerGbMonth"] = "0.2",
            ["Archive:Cost:RedisPer100kCommands"] = "0.4",
            ["Archive:Cost:RedisStoragePerGbMonth"] = "0.3",
            ["Archive:Cost:PricesAsOf"] = "2027-01-31",
            ["Archive:Cost:GrowthWindow"] = "2.00:00:00",
        }).Build();
        using var services = new ServiceCollection().AddLogging().AddNexusArchive(configuration).BuildServiceProvider();

        var cost = services.GetRequiredService<IOptions<CostOptions>>().Value;

        Assert.Equal((0.2m, 0.4m, 0.3m, "2027-01-31", TimeSpan.FromDays(2)),
            (cost.PostgresDiskPerGbMonth, cost.RedisPer100kCommands, cost.RedisStoragePerGbMonth, cost.PricesAsOf, cost.GrowthWindow));
    }
}
