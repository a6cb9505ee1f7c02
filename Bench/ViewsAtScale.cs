using System.Diagnostics;
using System.Text;
using Npgsql;

namespace NexusArchive.Bench;

/// <summary>
/// <c>--views-at N</c>: the analytics views (migration 0007, and any index a later migration adds for them) and
/// <c>search_messages</c> on an archive of N messages. Reset, seed N messages with varied text (<see cref="SearchText"/>)
/// spread evenly over <see cref="SpanDays"/> days (so the daily views have days to group and a 30-day range is a
/// sixth of the archive), one initial load as the real CLI, <c>VACUUM ANALYZE</c>; then each query as one typical
/// user under RLS (authenticated, JWT claims as PostgREST sets them) and as the admin, which bypasses RLS as
/// <c>service_role</c> does on Supabase: a warm-up, the median of 5 (of 1 over 3 s, none over 10 s), and the plan
/// (<c>auto_explain</c>: ANALYZE, BUFFERS, nested statements, so search_messages's own statement shows).
/// </summary>
internal sealed class ViewsAtScale(BenchServers servers, Scenarios scenarios, Report report)
{
    /// <summary>The days the seeded messages span, ending now.</summary>
    public const int SpanDays = 180;

    public async Task RunAsync(long n)
    {
        Console.WriteLine($"views at scale: {n:N0} messages over {SpanDays} days");
        NpgsqlConnection.ClearAllPools();
        await servers.ResetAsync();
        var span = (long)TimeSpan.FromDays(SpanDays).TotalMilliseconds;
        var data = new BenchData(await servers.RedisNowMsAsync() - span, variedText: true, stepMs: Math.Max(2, span / n));
        var (seeded, seedSeconds) = await new RedisWorkload(servers).SeedAsync(data, 0, n);
        report.Note("seed Redis (Lua writer, pipelined, varied text)", $"{seeded:N0} records in {seedSeconds:N1} s", $"{seeded / seedSeconds:N0} records/s");
        var load = await scenarios.CliPassAsync();
        report.Note("initial load, real CLI", $"{load.Rows / load.Seconds:N0} rows/s", $"{load.Rows:N0} rows in {load.Seconds:N1} s");

        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(servers.Postgres) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        var clock = Stopwatch.StartNew();
        await BenchServers.ExecAsync(connection, "VACUUM ANALYZE public.messages, public.chat_sessions, public.users");
        var sizes = await ScalarsAsync(connection,
            """
            SELECT pg_table_size('public.messages'), pg_indexes_size('public.messages'),
                   (SELECT string_agg(indexrelname || ' ' || pg_size_pretty(pg_relation_size(indexrelid)), ', ' ORDER BY indexrelname)
                      FROM pg_stat_user_indexes WHERE relname = 'messages')
            """);
        report.Note("messages: table / its indexes", $"{(long)sizes[0]! / 1048576:N0} / {(long)sizes[1]! / 1048576:N0} MB",
            $"{sizes[2]}; VACUUM ANALYZE {clock.Elapsed.TotalSeconds:N1} s");

        // A typical user: 400 messages in 20 sessions, active in the last 30 days (the users are seeded in order, so
        // one at 90% of the range wrote about 18 days ago).
        var users = Math.Max(1, n / (BenchData.MessagesPerSession * BenchData.SessionsPerUser));
        var user = $"u-{users * 9 / 10:D7}";
        var claims = $$"""{"sub":"{{user}}","role":"authenticated"}""";
        var (mid, rare) = (SearchText.Word(99), SearchText.Word(9_999));
        const string Since = "current_date - 30";
        (string Label, string? Claims, string Sql)[] queries =
        [
            ($"user_daily_usage as {user} (RLS): last 30 days", claims,
                $"SELECT day, messages, sessions_started, tokens FROM public.user_daily_usage WHERE day >= {Since} ORDER BY day DESC"),
            ($"model_daily_usage as {user} (RLS): tokens per model, last 30 days", claims,
                $"SELECT model, sum(tokens) AS tokens FROM public.model_daily_usage WHERE day >= {Since} AND model IS NOT NULL GROUP BY model ORDER BY tokens DESC"),
            ($"session_summary as {user} (RLS): latest 20 sessions", claims,
                "SELECT session_id, title, last_message_at, messages - deleted_messages AS visible_messages, tokens FROM public.session_summary WHERE NOT deleted ORDER BY last_message_at DESC NULLS LAST LIMIT 20"),
            ($"search_messages as {user} (RLS): a word in ~10% of messages", claims, $"SELECT * FROM public.search_messages('{mid}')"),
            ($"search_messages as {user} (RLS): a word in ~0.1% of messages", claims, $"SELECT * FROM public.search_messages('{rare}')"),
            ("user_daily_usage bypassing RLS: all users, last 30 days", null,
                $"SELECT user_id, day, messages, sessions_started, tokens FROM public.user_daily_usage WHERE day >= {Since}"),
            ("model_daily_usage bypassing RLS: per model and day, last 30 days", null,
                $"SELECT model, day, messages, tokens FROM public.model_daily_usage WHERE day >= {Since} ORDER BY day DESC, model"),
            ("session_summary bypassing RLS: latest 20 sessions of all", null,
                "SELECT session_id, user_id, title, last_message_at, messages, tokens FROM public.session_summary ORDER BY last_message_at DESC NULLS LAST LIMIT 20"),
            ("session_summary bypassing RLS: 20 most recently updated sessions of all", null,
                "SELECT session_id, user_id, title, last_message_at, messages, tokens FROM public.session_summary ORDER BY updated_at DESC LIMIT 20"),
        ];

        var plans = new StringBuilder();
        foreach (var (label, role, sql) in queries)
        {
            plans.Append(await TimeAsync(connection, label, role, sql));
        }

        // What if: indexes no migration ships, for the queries that read the whole table bypassing RLS. The day
        // predicate reaches both arms of user_daily_usage's UNION ALL, so an index on the views' day expression serves
        // it; one on chat_sessions.updated_at lets "most recently updated" stop after 20 lateral aggregates.
        clock.Restart();
        await BenchServers.ExecAsync(connection,
            """
            CREATE INDEX IF NOT EXISTS bench_messages_created_day_idx ON public.messages (((created_at AT TIME ZONE 'UTC')::date));
            CREATE INDEX IF NOT EXISTS bench_chat_sessions_created_day_idx ON public.chat_sessions (((created_at AT TIME ZONE 'UTC')::date));
            CREATE INDEX IF NOT EXISTS bench_chat_sessions_updated_at_idx ON public.chat_sessions (updated_at DESC);
            ANALYZE public.messages, public.chat_sessions;
            """);
        var candidate = await ScalarsAsync(connection, "SELECT pg_relation_size('public.bench_messages_created_day_idx')");
        report.Note("what if: candidate indexes (no migration ships them) built", $"{clock.Elapsed.TotalSeconds:N1} s",
            $"messages day index {(long)candidate[0]! / 1048576:N0} MB; chat_sessions day and updated_at indexes; then ANALYZE");
        foreach (var (label, role, sql) in queries.Where(q => q.Claims is null && !q.Label.Contains("latest 20", StringComparison.Ordinal)))
        {
            plans.Append(await TimeAsync(connection, "what if, with the candidate indexes: " + label, role, sql));
        }

        Console.WriteLine();
        Console.WriteLine("Plans (auto_explain: ANALYZE, BUFFERS, nested statements):");
        Console.WriteLine(plans);
    }

    private Task<string> TimeAsync(NpgsqlConnection connection, string label, string? claims, string sql) =>
        SearchCost.TimeQueryAsync(report, connection, label, claims, sql, plan: true);

    private static async Task<object?[]> ScalarsAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var row = new object?[reader.FieldCount];
        reader.GetValues(row!);
        return row;
    }
}
