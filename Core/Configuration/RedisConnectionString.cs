using System.Globalization;
using StackExchange.Redis;

namespace NexusArchive.Core.Configuration;

/// <summary>
/// Turns <c>ConnectionStrings:Redis</c> into <see cref="ConfigurationOptions"/>. Accepts the StackExchange.Redis
/// format (<c>host:port,password=…,ssl=true</c>) and URLs as Upstash prints them
/// (<c>rediss://default:password@host:port</c>), which <see cref="ConfigurationOptions.Parse(string)"/>
/// does not understand and would silently turn into a bad configuration.
/// </summary>
internal static class RedisConnectionString
{
    private static readonly ConfigurationOptions s_defaults = new();

    /// <summary>Parses either format; throws <see cref="FormatException"/> naming the setting, never echoing the password.</summary>
    public static ConfigurationOptions Parse(string connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new FormatException($"ConnectionStrings:{ConnectionStringNames.Redis} is empty.");
        }

        var trimmed = connectionString.Trim();
        var options = trimmed.Contains("://", StringComparison.Ordinal) ? ParseUrl(trimmed) : ParseNative(trimmed);
        options.AbortOnConnectFail = false;
        options.ClientName ??= "nexus-archive";

        // No tie-breaker GET on every connect (it picks a primary among several; Upstash and a single redis-server have
        // one): one billed command less per cold start. An explicit tiebreaker= setting is kept.
        if (options.TieBreaker == s_defaults.TieBreaker)
        {
            options.TieBreaker = string.Empty;
        }

        return options;
    }

    private static ConfigurationOptions ParseNative(string value)
    {
        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(value, ignoreUnknown: false);
        }
        catch (ArgumentException ex)
        {
            // The message of a parse failure may quote the offending option; keep only its key.
            throw new FormatException(
                $"ConnectionStrings:{ConnectionStringNames.Redis} is not a valid StackExchange.Redis configuration string ({OptionKey(ex.Message)}).");
        }

        if (options.EndPoints.Count == 0)
        {
            throw new FormatException($"ConnectionStrings:{ConnectionStringNames.Redis} names no endpoint (expected host:port or a rediss:// URL).");
        }

        return options;
    }

    private static ConfigurationOptions ParseUrl(string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != "redis" && uri.Scheme != "rediss"))
        {
            throw new FormatException($"ConnectionStrings:{ConnectionStringNames.Redis} is a URL but not a redis:// or rediss:// URL.");
        }

        if (string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException($"ConnectionStrings:{ConnectionStringNames.Redis} URL names no host.");
        }

        var options = new ConfigurationOptions
        {
            Ssl = uri.Scheme == "rediss",
        };
        var port = uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port;
        options.EndPoints.Add(uri.Host, port);
        if (options.Ssl)
        {
            options.SslHost = uri.Host;
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var separator = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            if (separator < 0)
            {
                // redis://password@host (legacy form without a user name)
                options.Password = Uri.UnescapeDataString(uri.UserInfo);
            }
            else
            {
                var user = Uri.UnescapeDataString(uri.UserInfo[..separator]);
                options.User = string.IsNullOrEmpty(user) ? null : user;
                options.Password = Uri.UnescapeDataString(uri.UserInfo[(separator + 1)..]);
            }
        }

        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            if (!int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out var database))
            {
                throw new FormatException($"ConnectionStrings:{ConnectionStringNames.Redis} URL path must be a database number.");
            }

            options.DefaultDatabase = database;
        }

        return options;
    }

    private static string OptionKey(string message)
    {
        var quote = message.IndexOf('\'', StringComparison.Ordinal);
        var equals = quote >= 0 ? message.IndexOf('=', quote) : -1;
        return quote >= 0 && equals > quote ? "unknown option '" + message[(quote + 1)..equals] + "'" : "unrecognised option";
    }
}
