using NexusArchive.Core.Archiving;
using NexusArchive.Tests.Infrastructure;
using Npgsql;

namespace NexusArchive.Tests.Security;

/// <summary>Whole passes over TLS PostgreSQL, through PgBouncer in transaction mode, and over TLS Redis with an Upstash-style URL.</summary>
public sealed class TransportTests
{
    [Fact]
    public async Task Run_PostgresOverTls_SslModeRequireAndVerifyFull_Archives_PlainTextRejected()
    {
        using var pg = TlsPostgres.Start();
        var require = $"Host=127.0.0.1;Port={pg.Port};Username=postgres;Database=postgres;SSL Mode=Require;Trust Server Certificate=true";
        var verifyFull = $"Host=127.0.0.1;Port={pg.Port};Username=postgres;Database=postgres;SSL Mode=VerifyFull;Root Certificate={pg.Certificate.CertificatePath}";

        await using (var plain = new NpgsqlConnection($"Host=127.0.0.1;Port={pg.Port};Username=postgres;Database=postgres;SSL Mode=Disable"))
        {
            var refused = await Assert.ThrowsAsync<PostgresException>(() => plain.OpenAsync());
            Assert.Equal("28000", refused.SqlState); // pg_hba: hostnossl … reject
        }

        await using var h = await ArchiveHarness.CreateAsync(s => s["ConnectionStrings:Postgres"] = require);
        await RowLevelSecurityTests.SeedTwoUsersAsync(h);
        var run = await h.RunAsync();
        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(9, await h.CountAsync("messages"));
        Assert.True((bool)(await h.QueryAsync("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))[0]["ssl"]!);

        await using var verified = await h.SameArchiveAsync(verifyFull);
        await h.WriteMessageAsync("late-1", await h.RedisNowMsAsync() - 30_000, user: "u-A");
        var second = await verified.RunAsync("message");
        Assert.True(second.Status == RunStatus.Succeeded, second.Error);
        Assert.Equal(10, await verified.CountAsync("messages"));
    }

    [Fact]
    public async Task Run_ThroughPgBouncerTransactionMode_TwoConcurrentPassesShareOneServerConnection()
    {
        using var bouncer = ChildServer.StartPgBouncer(poolSize: 1);
        var admin = new NpgsqlConnectionStringBuilder(TestServers.Instance.PostgresAdminConnectionString);
        var viaBouncer = $"Host=127.0.0.1;Port={bouncer.Port};Username={admin.Username};Database={admin.Database};No Reset On Close=true;Max Auto Prepare=0;Maximum Pool Size=10";

        // Transaction pooling is really in effect: two client connections, one server backend.
        await using (var one = new NpgsqlConnection(viaBouncer))
        await using (var two = new NpgsqlConnection(viaBouncer))
        {
            await one.OpenAsync();
            await two.OpenAsync();
            await using var pid1 = new NpgsqlCommand("SELECT pg_backend_pid()", one);
            await using var pid2 = new NpgsqlCommand("SELECT pg_backend_pid()", two);
            Assert.Equal(await pid1.ExecuteScalarAsync(), await pid2.ExecuteScalarAsync());
        }

        // Migrations (advisory xact lock), then passes with many pages each: temp table ON COMMIT DROP, binary COPY,
        // MERGE and pg_advisory_xact_lock are all transaction-scoped, so interleaving on one backend is harmless.
        await using var a = await ArchiveHarness.CreateAsync(s => { s["ConnectionStrings:Postgres"] = viaBouncer; s["Archive:PageSize"] = "2"; });
        await using var b = await ArchiveHarness.CreateAsync(s => { s["ConnectionStrings:Postgres"] = viaBouncer; s["Archive:PageSize"] = "2"; });
        await RowLevelSecurityTests.SeedTwoUsersAsync(a);
        await RowLevelSecurityTests.SeedTwoUsersAsync(b);

        var runs = await Task.WhenAll(a.RunAsync(), b.RunAsync());

        foreach (var (run, h) in runs.Zip([a, b]))
        {
            Assert.True(run.Status == RunStatus.Succeeded, run.Error);
            Assert.Equal(5, run.Entities.Single(e => e.Entity == "message").Pages);
            Assert.Equal(9, await h.CountAsync("messages"));
            Assert.Equal(10, await h.CountAsync("chat_sessions") + await h.CountAsync("attachment_refs") + await h.CountAsync("users"));
        }

        // A second pass re-reads the overlap and changes nothing.
        var again = await a.RunAsync();
        Assert.Equal(RunStatus.Succeeded, again.Status);
        Assert.Equal(0, again.TotalUpserted);
    }

    [Fact]
    public async Task Run_RedisOverTls_UpstashStyleUrl_Archives()
    {
        const string Password = "tls-redis-pw-7f3a";
        var (server, certificate) = ChildServer.StartTlsRedis(Password);
        using var _ = server;
        await using var h = await ArchiveHarness.CreateAsync(s =>
        {
            s["ConnectionStrings:Redis"] = $"rediss://default:{Password}@127.0.0.1:{server.Port}";
            s["Archive:Security:RedisTrustedCertificatePath"] = certificate.CertificatePath;
        });
        await RowLevelSecurityTests.SeedTwoUsersAsync(h);

        var run = await h.RunAsync();

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(9, await h.CountAsync("messages"));
        Assert.Equal(2, await h.CountAsync("users"));
    }

    [Fact]
    public async Task Connect_RedisOverTls_UntrustedSelfSignedCertificate_FailsWithoutTrustOption()
    {
        const string Password = "tls-redis-pw-2b9c";
        var (server, _) = ChildServer.StartTlsRedis(Password);
        using var __ = server;
        await using var h = await ArchiveHarness.CreateAsync(s => s["ConnectionStrings:Redis"] = $"rediss://default:{Password}@127.0.0.1:{server.Port}", migrate: false);

        await Assert.ThrowsAnyAsync<StackExchange.Redis.RedisConnectionException>(() => h.Redis.PingAsync());
    }
}
