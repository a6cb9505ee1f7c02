using System.Text.Json;
using NexusArchive.Core.Sink;
using Npgsql;
using NpgsqlTypes;

namespace NexusArchive.Core.Bookkeeping;

/// <summary>The administrative actions the audit trail records.</summary>
internal static class AdminActions
{
    public const string Export = "export";
    public const string Erase = "erase";
    public const string EraseDryRun = "erase_dry_run";
}

/// <summary>
/// The only code that touches <c>{bookkeeping}.admin_audit</c>: one append-only row per administrative operation —
/// who, what, about which user, when, counts; never the data itself.
/// </summary>
internal sealed class AdminAudit(NpgsqlDataSource dataSource, SchemaNames schemas)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    private string Table => $"{schemas.Bookkeeping}.admin_audit";

    /// <summary>The audit row as a command, for a caller that writes it in the same transaction as the operation.</summary>
    public NpgsqlBatchCommand RecordCommand(string actor, string action, string subjectUser, bool succeeded, object counts, string? error)
    {
        var command = new NpgsqlBatchCommand($"INSERT INTO {Table} (actor, action, subject_user, outcome, counts, error) VALUES ($1, $2, $3, $4, $5, $6) RETURNING audit_id");
        command.Parameters.Add(new() { Value = actor });
        command.Parameters.Add(new() { Value = action });
        command.Parameters.Add(new() { Value = subjectUser });
        command.Parameters.Add(new() { Value = succeeded ? "succeeded" : "failed" });
        command.Parameters.Add(new() { Value = JsonSerializer.Serialize(counts, s_json), NpgsqlDbType = NpgsqlDbType.Jsonb });
        command.Parameters.Add(new() { Value = (object?)error ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        return command;
    }

    /// <summary>Appends one audit row; returns its id.</summary>
    public async Task<long> RecordAsync(string actor, string action, string subjectUser, bool succeeded, object counts, string? error, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection) { BatchCommands = { RecordCommand(actor, action, subjectUser, succeeded, counts, error) } };
        return (long)(await batch.ExecuteScalarAsync(cancellationToken))!;
    }
}
