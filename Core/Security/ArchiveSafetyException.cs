namespace NexusArchive.Core.Security;

/// <summary>The start-up safety check found the database unsafe to archive into; the message says what and how to fix it.</summary>
internal sealed class ArchiveSafetyException(string message) : Exception(message);
