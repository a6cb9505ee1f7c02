using System.Text;

namespace NexusArchive.Core.Bookkeeping;

/// <summary>
/// PostgreSQL advisory-lock keys named by what they guard: FNV-1a (64-bit) over <c>nexus_archive:</c> + the name, stable
/// across processes and versions. Name the schema in it, so archives in other schemas of the same database never wait
/// for, or give way to, this one.
/// </summary>
internal static class AdvisoryLockKey
{
    public static long For(string name)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes("nexus_archive:" + name))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return unchecked((long)hash);
    }
}
