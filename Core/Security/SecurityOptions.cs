namespace NexusArchive.Core.Security;

/// <summary>
/// Security settings, bound from <c>Archive:Security</c> (environment: <c>Archive__Security__OwnerClaim</c>, …).
/// See docs/security.md.
/// </summary>
internal sealed class SecurityOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Archive:Security";

    /// <summary>
    /// The JWT claim holding NexusChat's user id; Row Level Security lets <c>authenticated</c> read the rows whose
    /// owner equals <c>auth.jwt() -&gt;&gt; OwnerClaim</c>. The migrator writes it into the bookkeeping schema.
    /// </summary>
    public string OwnerClaim { get; set; } = "sub";

    /// <summary>
    /// Before every pass, refuse to archive when Row Level Security is off on an archive table or the connected
    /// role can read <c>auth</c> schema secrets (Supabase's <c>auth.users</c>, …). Turn off only knowingly.
    /// </summary>
    public bool SafetyCheck { get; set; } = true;

    /// <summary>
    /// A PEM certificate (a private CA or a self-signed server certificate) to trust for Redis TLS, for servers whose
    /// certificate the machine does not trust already. Public providers (Upstash, Azure) need none.
    /// </summary>
    public string? RedisTrustedCertificatePath { get; set; }
}
