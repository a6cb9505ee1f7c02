namespace NexusArchive.Core.Configuration;

/// <summary>Names under <c>ConnectionStrings</c> (environment: <c>ConnectionStrings__Redis</c>, <c>ConnectionStrings__Postgres</c>).</summary>
internal static class ConnectionStringNames
{
    public const string Redis = "Redis";
    public const string Postgres = "Postgres";
}
