using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NexusArchive.Core;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Verification;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Integration;

/// <summary>
/// docs/architecture.md claims a fifth entity is one descriptor and one migration. This proves it with an entity that
/// exists only here — a user's note — against real Redis and PostgreSQL: its descriptor in a catalog registered in
/// place of the production one, its table created as its migration would create it, then a real pass and a verify.
/// </summary>
public sealed class FifthEntityTests
{
    /// <summary>The one descriptor: a note belongs to a user, after the four production entities in dependency order.</summary>
    internal static readonly EntityDescriptor Note = new(
        "note",
        "notes",
        order: 4,
        [
            new("userId", "user_id", ColumnKind.Text, Required: true),
            new("body", "body", ColumnKind.Text),
            new("wordCount", "word_count", ColumnKind.Integer),
            new("style", "style", ColumnKind.JsonObject),
        ],
        new Dictionary<string, string> { ["user_id"] = "user" });

    /// <summary>The one migration, as a file in Core/Sink/Migrations would write it (same shape and RLS as 0001 and 0002).</summary>
    private const string NotesMigration =
        """
        CREATE TABLE {t}.notes (
            id           text        PRIMARY KEY,
            user_id      text        NOT NULL,
            body         text,
            word_count   bigint,
            style        jsonb,
            created_at   timestamptz NOT NULL,
            updated_at   timestamptz NOT NULL,
            deleted_at   timestamptz,
            extra        jsonb,
            archived_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX notes_user_id_idx ON {t}.notes (user_id);
        ALTER TABLE {t}.notes ENABLE ROW LEVEL SECURITY;
        """;

    [Fact]
    public async Task ArchiveAndVerify_TestOnlyEntity_ArchivesEveryNoteAndVerifiesEqual()
    {
        await using var h = await ArchiveHarness.CreateAsync(services: s => s.Replace(ServiceDescriptor.Singleton(new EntityCatalog([.. EntityCatalog.Default.All, Note]))));
        await using (var migrate = h.DataSource.CreateCommand(h.Schemas(NotesMigration)))
        {
            await migrate.ExecuteNonQueryAsync();
        }

        // The Lua writer's rules are rendered from the production descriptors (a real fifth entity regenerates them), so
        // the notes are written the way a client writing around the writer does: hash, index entry, write counter.
        var old = await h.RedisNowMsAsync() - 60_000;
        for (var i = 0; i < 12; i++)
        {
            var at = old + (i * 100);
            await h.WriteUncheckedAsync(Note, $"n-{i}", at,
                ("userId", $"u-{i % 3}"), ("body", $"note {i}"), ("wordCount", "2"), ("style", "{\"colour\": \"yellow\"}"),
                ("createdAt", at.ToString(CultureInfo.InvariantCulture)), ("mood", "calm"));
        }

        await h.WriteUncheckedAsync(Note, "n-bad", old, ("body", "no user")); // userId is required: a dead letter, as for any entity

        var run = await h.RunAsync("note");

        var notes = Assert.Single(run.Entities);
        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(("note", 12L, 1L), (notes.Entity, notes.Upserted, notes.DeadLettered));
        Assert.Equal(12, await h.CountAsync("notes"));
        Assert.Equal("{\"mood\": \"calm\"}", (await h.QueryAsync("SELECT extra::text AS extra FROM {t}.notes WHERE id = 'n-3'")).Single()["extra"]);
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {b}.dead_letters WHERE entity = 'note' AND status = 'open'"));

        var report = await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(["note"], BatchSize: 5), CancellationToken.None);

        var verified = Assert.Single(report.Entities);
        Assert.True(report.Ok);
        Assert.Equal("note", verified.Entity);
        Assert.Equal(12, verified.Counts[VerifyCategory.Equal]);
        Assert.Equal(1, verified.Counts[VerifyCategory.DeadLettered]);
        Assert.Equal(12, verified.PostgresRows);
    }

    [Fact]
    public void AddNexusArchive_NoCatalogRegistered_RegistersTheProductionFour()
    {
        using var services = new ServiceCollection().AddNexusArchive(new ConfigurationBuilder().Build()).BuildServiceProvider();

        Assert.Same(EntityCatalog.Default, services.GetRequiredService<EntityCatalog>());
        Assert.Equal(["user", "session", "message", "attachment"], EntityCatalog.Default.All.Select(e => e.Name));
    }
}
