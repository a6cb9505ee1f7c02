using Azure.Core;
using Npgsql;

namespace NexusArchive.Core.Configuration;

/// <summary>
/// Entra ID (managed identity) sign-in for Azure Database for PostgreSQL: the access token is the password.
/// Tokens live about an hour; Npgsql refreshes ours in the background, so opening a connection never waits on Entra.
/// </summary>
internal static class PostgresEntraPassword
{
    /// <summary>The scope Azure Database for PostgreSQL accepts tokens for.</summary>
    public const string Scope = "https://ossrdbms-aad.database.windows.net/.default";

    /// <summary>How often a fresh token is fetched (well inside its lifetime).</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(30);

    /// <summary>How soon a failed token fetch is retried.</summary>
    public static readonly TimeSpan FailureRefreshInterval = TimeSpan.FromSeconds(10);

    /// <summary>Makes every physical connection of the data source sign in with a token from <paramref name="credential"/>.</summary>
    public static NpgsqlDataSourceBuilder UseEntraTokenPassword(this NpgsqlDataSourceBuilder builder, TokenCredential credential)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(credential);
        var context = new TokenRequestContext([Scope]);
        return builder.UsePeriodicPasswordProvider(
            async (_, cancellationToken) => (await credential.GetTokenAsync(context, cancellationToken)).Token,
            RefreshInterval,
            FailureRefreshInterval);
    }
}
