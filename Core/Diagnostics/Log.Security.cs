using Microsoft.Extensions.Logging;

namespace NexusArchive.Core.Diagnostics;

/// <summary>Security log events, ids 5000-5099 (see <c>Log.cs</c> for the contract, <see cref="LogEventIds"/> for the ids).</summary>
internal static partial class Log
{
    [LoggerMessage(LogEventIds.SafetyCheckPassed, LogLevel.Debug, "Safety check passed for schema {TargetSchema} as role {Role}", EventName = "SafetyCheckPassed")]
    public static partial void SafetyCheckPassed(ILogger logger, string targetSchema, string role);

    [LoggerMessage(LogEventIds.SafetyCheckDisabled, LogLevel.Warning, "Safety check is disabled (Archive:Security:SafetyCheck=false): Row Level Security and auth-schema access are not verified", EventName = "SafetyCheckDisabled")]
    public static partial void SafetyCheckDisabled(ILogger logger);

    [LoggerMessage(LogEventIds.RoleBypassesRls, LogLevel.Warning, "Connected role {Role} is a superuser or has BYPASSRLS; run passes as nexus_archiver (or a member of it) for least privilege", EventName = "RoleBypassesRls")]
    public static partial void RoleBypassesRls(ILogger logger, string role);

    [LoggerMessage(LogEventIds.SafetyCheckFailed, LogLevel.Error, "Safety check failed as role {Role}: {Problems}", EventName = "SafetyCheckFailed")]
    public static partial void SafetyCheckFailed(ILogger logger, string role, string problems);

    [LoggerMessage(LogEventIds.OwnerClaimConfigured, LogLevel.Information, "Row Level Security owner claim set to {OwnerClaim}", EventName = "OwnerClaimConfigured")]
    public static partial void OwnerClaimConfigured(ILogger logger, string ownerClaim);
}
