using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Verification;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Security;

/// <summary>Migration 0003's grants and Row Level Security on <c>verifications</c>, with real roles on the real server.</summary>
public sealed class VerificationGrantsTests
{
    [Fact]
    public async Task Archiver_RunsAndRecordsBothVerifications_AndReadsThemInStatus()
    {
        await using var admin = await ArchiveHarness.CreateAsync();
        await RowLevelSecurityTests.SeedTwoUsersAsync(admin);
        var archiverConnection = await RoleSql.CreateLoginAsync(admin.Settings["ConnectionStrings:Postgres"]!, "nexus_archiver", "verify-archiver-pw");
        await using var archiver = await admin.SameArchiveAsync(archiverConnection);
        Assert.Equal(RunStatus.Succeeded, (await archiver.RunAsync()).Status);

        var incremental = await archiver.Services.GetRequiredService<IncrementalVerifyService>()
            .RunAsync(new IncrementalVerifyRequest("test"), CancellationToken.None);
        var full = await archiver.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(), CancellationToken.None);
        var status = await archiver.Services.GetRequiredService<StatusService>().GetAsync(CancellationToken.None);

        Assert.True(incremental.Ok, $"{incremental.Status}: {incremental.Error}");
        Assert.True(incremental.RecordsChecked > 0);
        Assert.True(full.Ok);
        Assert.Equal(full.VerificationId, status.LastVerification!.VerificationId);
        Assert.Equal(2, await admin.ScalarAsync("SELECT count(*) FROM {b}.verifications WHERE status = 'Succeeded'"));
    }

    [Fact]
    public async Task AuthenticatedAndAnon_CannotReadOrWriteVerifications()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await h.Services.GetRequiredService<IncrementalVerifyService>().RunAsync(new IncrementalVerifyRequest("test"), CancellationToken.None);

        foreach (var role in new[] { "authenticated", "anon" })
        {
            Assert.Equal("42501", await RoleSql.FailureAsync(h, role, """{"sub":"u-A"}""", "SELECT * FROM {b}.verifications"));
            Assert.Equal("42501", await RoleSql.FailureAsync(h, role, """{"sub":"u-A"}""", "DELETE FROM {b}.verifications"));
        }

        var rls = await h.QueryAsync("SELECT c.relrowsecurity AS rls FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'verifications'", h.BookkeepingSchema);
        Assert.True((bool)Assert.Single(rls)["rls"]!);
    }
}
