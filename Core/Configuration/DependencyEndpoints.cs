using Npgsql;

namespace NexusArchive.Core.Configuration;

/// <summary>
/// Where the archive connects, in words an operator can act on: the setting's name and the host, port and database
/// it names, never a user name or password. Used in errors that say a dependency is unreachable.
/// </summary>
internal sealed class DependencyEndpoints
{
    public DependencyEndpoints(ConnectionOptions connections)
    {
        ArgumentNullException.ThrowIfNull(connections);
        Redis = DescribeRedis(connections.Redis);
        Postgres = DescribePostgres(connections.Postgres);
    }

    /// <summary>For example <c>ConnectionStrings:Redis (127.0.0.1:6390)</c>.</summary>
    public string Redis { get; }

    /// <summary>For example <c>ConnectionStrings:Postgres (host 127.0.0.1, port 5442, database nexus_archive)</c>.</summary>
    public string Postgres { get; }

    /// <summary>The description for a dependency named as in <see cref="Resilience.DependencyUnavailableException.Dependency"/>.</summary>
    public string For(string dependency) => dependency == "Redis" ? Redis : Postgres;

    private static string DescribeRedis(string? connectionString)
    {
        const string Setting = $"ConnectionStrings:{ConnectionStringNames.Redis}";
        try
        {
            var endpoints = RedisConnectionString.Parse(connectionString ?? string.Empty).EndPoints;
            return $"{Setting} ({string.Join(", ", endpoints.Select(EndPointText))})";
        }
        catch (FormatException)
        {
            return Setting;
        }
    }

    private static string EndPointText(System.Net.EndPoint endpoint) => endpoint switch
    {
        System.Net.DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        System.Net.IPEndPoint ip => ip.ToString(),
        _ => endpoint.ToString() ?? "?",
    };

    private static string DescribePostgres(string? connectionString)
    {
        const string Setting = $"ConnectionStrings:{ConnectionStringNames.Postgres}";
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString ?? string.Empty);
            return $"{Setting} (host {builder.Host ?? "(none)"}, port {builder.Port}, database {builder.Database ?? "(default)"})";
        }
        catch (ArgumentException)
        {
            return Setting;
        }
    }
}
