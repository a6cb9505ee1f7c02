namespace NexusArchive.Tests.Infrastructure;

/// <summary>The repository the tests were built from: the folder above the test binaries that holds the solution.</summary>
internal static class Repository
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    public static string Root => s_root.Value;

    /// <summary>A path inside the repository, e.g. <c>Path("Core", "Source", "Scripts")</c>.</summary>
    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(directory.FullName, "NexusArchive.Functions.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No NexusArchive.Functions.sln above {AppContext.BaseDirectory}: the tests read files of the repository they were built from.");
    }
}
