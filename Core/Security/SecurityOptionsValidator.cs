using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace NexusArchive.Core.Security;

/// <summary>Rules for <c>Archive:Security</c>; every failure names the setting.</summary>
internal sealed partial class SecurityOptionsValidator : IValidateOptions<SecurityOptions>
{
    private const string Section = SecurityOptions.SectionName;

    // A JSON claim name: plain names and URI-style namespaced claims (https://nexuschat.example/uid). The value
    // only ever travels as a SQL parameter; the pattern keeps configuration typos and control characters out.
    [GeneratedRegex(@"^[A-Za-z0-9_.:/\-]{1,128}$", RegexOptions.CultureInvariant)]
    private static partial Regex ClaimPattern();

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, SecurityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var security = options;
        var failures = new List<string>();
        if (security.OwnerClaim is null || !ClaimPattern().IsMatch(security.OwnerClaim))
        {
            failures.Add($"{Section}:OwnerClaim '{security.OwnerClaim}' is invalid: use 1-128 letters, digits or '_ . : / -'.");
        }

        if (!string.IsNullOrEmpty(security.RedisTrustedCertificatePath) && !File.Exists(security.RedisTrustedCertificatePath))
        {
            failures.Add($"{Section}:RedisTrustedCertificatePath names a file that does not exist.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
