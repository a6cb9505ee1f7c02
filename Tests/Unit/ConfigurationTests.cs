using NexusArchive.Core.Configuration;

namespace NexusArchive.Tests.Unit;

public sealed class ConfigurationTests
{
    [Fact]
    public void RedisConnectionString_UpstashUrl_BecomesTlsWithUserAndPassword()
    {
        var options = RedisConnectionString.Parse("rediss://default:s3cr%40t@eu1-happy-cat-12345.upstash.io:6380");

        Assert.True(options.Ssl);
        Assert.Equal("default", options.User);
        Assert.Equal("s3cr@t", options.Password);
        Assert.Equal("eu1-happy-cat-12345.upstash.io", options.SslHost);
        Assert.Equal("eu1-happy-cat-12345.upstash.io:6380", options.EndPoints.Single().ToString()!.Replace("Unspecified/", string.Empty, StringComparison.Ordinal));
        Assert.False(options.AbortOnConnectFail);
    }

    [Fact]
    public void RedisConnectionString_PlainUrlWithDatabase_IsParsed()
    {
        var options = RedisConnectionString.Parse("redis://:pw@localhost/3");

        Assert.False(options.Ssl);
        Assert.Equal("pw", options.Password);
        Assert.Equal(3, options.DefaultDatabase);
    }

    [Fact]
    public void RedisConnectionString_NativeFormat_IsParsed()
    {
        var options = RedisConnectionString.Parse("127.0.0.1:6390,password=x,ssl=false");

        Assert.Equal("x", options.Password);
        Assert.Single(options.EndPoints);
    }

    [Theory]
    [InlineData("")]
    [InlineData("http://host:6379")]
    [InlineData("rediss://user:pw@host:6379/notanumber")]
    [InlineData("host:6379,nonsense=1")]
    public void RedisConnectionString_Malformed_ThrowsNamingTheSettingWithoutTheValue(string value)
    {
        var ex = Assert.Throws<FormatException>(() => RedisConnectionString.Parse(value));

        Assert.Contains("ConnectionStrings:Redis", ex.Message);
        Assert.DoesNotContain("pw", ex.Message);
    }

    [Fact]
    public void ArchiveOptionsValidator_Defaults_AreValid()
    {
        Assert.True(new ArchiveOptionsValidator().Validate(null, new ArchiveOptions()).Succeeded);
    }

    [Theory]
    [InlineData("KeyPrefix", "Archive:KeyPrefix")]
    [InlineData("TargetSchema", "Archive:TargetSchema")]
    [InlineData("BookkeepingSchema", "Archive:BookkeepingSchema")]
    [InlineData("PageSize", "Archive:PageSize")]
    [InlineData("SettleWindow", "Archive:SettleWindow")]
    [InlineData("TimeBudget", "Archive:TimeBudget")]
    [InlineData("Entities", "Archive:Entities")]
    [InlineData("SearchLanguage", "Archive:SearchLanguage")]
    public void ArchiveOptionsValidator_BadSetting_FailsNamingIt(string setting, string expectedName)
    {
        var options = new ArchiveOptions();
        switch (setting)
        {
            case "KeyPrefix": options.KeyPrefix = "nexus:*"; break;
            case "TargetSchema": options.TargetSchema = "public; DROP TABLE users"; break;
            case "BookkeepingSchema": options.BookkeepingSchema = "public"; break;
            case "PageSize": options.PageSize = 0; break;
            case "SettleWindow": options.SettleWindow = TimeSpan.FromSeconds(-1); break;
            case "TimeBudget": options.TimeBudget = TimeSpan.Zero; break;
            case "Entities": options.Entities = ["message", "reaction"]; break;
            case "SearchLanguage": options.SearchLanguage = "klingon"; break;
        }

        var result = new ArchiveOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(expectedName, result.FailureMessage);
    }

    [Theory]
    [InlineData("simple")]
    [InlineData("english")]
    [InlineData("german")]
    [InlineData("turkish")]
    public void ArchiveOptionsValidator_BuiltInSearchLanguage_IsValid(string language)
    {
        Assert.True(new ArchiveOptionsValidator().Validate(null, new ArchiveOptions { SearchLanguage = language }).Succeeded);
        Assert.Equal($"'{language}'", SearchLanguages.Literal(language));
    }

    [Theory]
    [InlineData("English")]
    [InlineData("pg_catalog.english")]
    [InlineData("simple'::regconfig); DROP TABLE messages; --")]
    [InlineData("")]
    public void ArchiveOptionsValidator_UnknownSearchLanguage_FailsListingTheChoices(string language)
    {
        var result = new ArchiveOptionsValidator().Validate(null, new ArchiveOptions { SearchLanguage = language });

        Assert.True(result.Failed);
        Assert.Contains("Archive:SearchLanguage", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("simple, spanish, swedish", result.FailureMessage, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => SearchLanguages.Literal(language));
    }

    [Fact]
    public void ArchiveOptions_SearchLanguage_DefaultsToSimple() => Assert.Equal("simple", new ArchiveOptions().SearchLanguage);

    [Fact]
    public void ConnectionOptionsValidator_Missing_NamesBothSettings()
    {
        var result = new ConnectionOptionsValidator().Validate(null, new ConnectionOptions());

        Assert.Contains("ConnectionStrings:Redis", result.FailureMessage);
        Assert.Contains("ConnectionStrings:Postgres", result.FailureMessage);
    }

    [Fact]
    public void Identifiers_Quote_RejectsAnythingButPlainIdentifiers()
    {
        Assert.Equal("\"nexus_archive\"", Identifiers.Quote("nexus_archive"));
        Assert.Throws<ArgumentException>(() => Identifiers.Quote("a\"b"));
        Assert.Throws<ArgumentException>(() => Identifiers.Quote("Upper"));
    }

    [Fact]
    public void TimestampParser_AcceptsEpochMsAndIsoOnly()
    {
        Assert.True(NexusArchive.Core.Mapping.TimestampParser.TryParse("1700000000000", out var a));
        Assert.Equal(1_700_000_000_000, a.ToUnixTimeMilliseconds());
        Assert.True(NexusArchive.Core.Mapping.TimestampParser.TryParse("2026-01-01", out var b));
        Assert.Equal(TimeSpan.Zero, b.Offset);
        Assert.False(NexusArchive.Core.Mapping.TimestampParser.TryParse("Jan 1 2026", out _));
        Assert.False(NexusArchive.Core.Mapping.TimestampParser.TryParse("1.5e12", out _));
    }
}
