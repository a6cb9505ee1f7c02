namespace NexusArchive.Functions;

/// <summary>What the HTTP functions tell a caller about a bad request.</summary>
internal static class HttpProblems
{
    /// <summary>Core's complaint in the caller's words, not the framework's: without <c> (Parameter 'x')</c>.</summary>
    public static string CallersWords(ArgumentException ex) =>
        ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", string.Empty, StringComparison.Ordinal);
}
