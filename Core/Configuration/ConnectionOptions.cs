using Microsoft.Extensions.Options;
using Npgsql;

namespace NexusArchive.Core.Configuration;

/// <summary>The two connection strings, read from <c>ConnectionStrings:Redis</c> and <c>ConnectionStrings:Postgres</c>.</summary>
internal sealed class ConnectionOptions
{
    public string? Redis { get; set; }

    public string? Postgres { get; set; }
}

/// <summary>Checks both connection strings at start-up; messages name the setting and never echo its value.</summary>
internal sealed class ConnectionOptionsValidator : IValidateOptions<ConnectionOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ConnectionOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Redis))
        {
            failures.Add($"ConnectionStrings:{ConnectionStringNames.Redis} is missing (environment variable ConnectionStrings__{ConnectionStringNames.Redis}).");
        }
        else
        {
            try
            {
                RedisConnectionString.Parse(options.Redis);
            }
            catch (FormatException ex)
            {
                failures.Add(ex.Message);
            }
        }

        if (string.IsNullOrWhiteSpace(options.Postgres))
        {
            failures.Add($"ConnectionStrings:{ConnectionStringNames.Postgres} is missing (environment variable ConnectionStrings__{ConnectionStringNames.Postgres}).");
        }
        else
        {
            try
            {
                var builder = new NpgsqlConnectionStringBuilder(options.Postgres);
                if (string.IsNullOrEmpty(builder.Host))
                {
                    failures.Add($"ConnectionStrings:{ConnectionStringNames.Postgres} names no Host.");
                }
            }
            catch (ArgumentException)
            {
                failures.Add($"ConnectionStrings:{ConnectionStringNames.Postgres} is not a valid Npgsql connection string (expected Host=…;Database=…;Username=…).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
