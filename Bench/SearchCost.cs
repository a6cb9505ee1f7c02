using System.Diagnostics;
using System.Text;
using Npgsql;

namespace NexusArchive.Bench;

/// <summary>
/// <c>--search-cost</c>: what message search (migration 0007) costs the archive, and what its queries cost.
/// In one run, per design and round: reset, seed N messages with varied text (<see cref="SearchText"/>), the initial
/// load as the real CLI, 10% of messages edited, the incremental pass as the real CLI. Designs: <c>none</c> (0007 as
/// shipped, <c>Archive:SearchIndex</c> false: no full-text index; afterwards the opt-in index is built on the loaded
/// table with the statement migrate runs, timed), <c>expression</c> (the opt-in GIN index on
/// <c>to_tsvector('simple', coalesce(content, ''))</c> present during the load) and <c>stored</c> (a generated
/// <c>tsvector</c> column, stored, with a GIN index on it). Then, on the data of the last round when it is <c>none</c>:
/// two heavy users (<see cref="HeavyUsers"/>) are added, and <c>search_messages</c> and the views are timed as an
/// authenticated user under RLS with no full-text index at all, then, with the opt-in index, as a role that bypasses
/// RLS; each with its plan (auto_explain, nested statements, so the function's own plan shows).
/// </summary>
internal sealed class SearchCost(BenchServers servers, Scenarios scenarios, Report report)
{
    private const string ExpressionIndex =
        "CREATE INDEX messages_content_search_idx ON public.messages USING gin (to_tsvector('simple'::regconfig, coalesce(content, '')))";

    /// <summary>What migrate runs for <c>Archive:SearchIndex = true</c> (Migrator.SearchIndexSql, schema public, simple).</summary>
    private const string OptInIndex =
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_content_search_idx ON public.messages USING gin (to_tsvector('simple'::regconfig, coalesce(content, '')))";

    /// <summary>Users with many messages (copies of seeded messages' text), for the per-user search under RLS.</summary>
    private static readonly (string User, int Messages)[] HeavyUsers = [("u-heavy-05k", 5_000), ("u-heavy-20k", 20_000)];

    private readonly RedisWorkload _workload = new(servers);

    private sealed record Round(string Design, PassResult Initial, PassResult Incremental, double BuildSeconds, long IndexBytes, long TableBytes);

    public async Task RunAsync()
    {
        var n = servers.Arguments.Messages;
        var designs = servers.Arguments.SearchDesigns;
        var rounds = new List<Round>();
        Console.WriteLine($"search cost: {n:N0} messages, designs {string.Join(", ", designs)}, {servers.Arguments.SearchRounds} round(s)");
        for (var r = 0; r < servers.Arguments.SearchRounds; r++)
        {
            foreach (var design in designs)
            {
                rounds.Add(await RoundAsync(design, n, r + 1));
            }
        }

        Summarize(rounds);
        if (designs[^1] == "none")
        {
            await QueriesAsync(n);
        }
    }

    private async Task<Round> RoundAsync(string design, long n, int round)
    {
        // An idle pooled connection may have been closed by the server meanwhile (a database dropped WITH (FORCE), an
        // idle timeout): start each round with fresh ones.
        NpgsqlConnection.ClearAllPools();
        await servers.ResetAsync();
        await using (var connection = await OpenAsync())
        {
            switch (design)
            {
                case "none":
                    break;
                case "stored":
                    await BenchServers.ExecAsync(connection,
                        """
                        ALTER TABLE public.messages ADD COLUMN content_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, coalesce(content, ''))) STORED;
                        CREATE INDEX messages_content_tsv_idx ON public.messages USING gin (content_tsv);
                        """);
                    break;
                case "expression":
                    await BenchServers.ExecAsync(connection, ExpressionIndex);
                    break;
                default:
                    throw new ArgumentException($"unknown search design '{design}' (none, expression, stored)");
            }
        }

        var data = new BenchData(await servers.RedisNowMsAsync() - (long)TimeSpan.FromDays(20).TotalMilliseconds, variedText: true);
        await _workload.SeedAsync(data, 0, n);
        var initial = await scenarios.CliPassAsync();
        await _workload.EditAsync(data, n, 10);
        var incremental = await scenarios.CliPassAsync();

        double build = 0;
        await using (var connection = await OpenAsync())
        {
            if (design != "expression")
            {
                await CompareSearchAsync(connection, design, n);
            }

            if (design == "none")
            {
                var clock = Stopwatch.StartNew();
                await BenchServers.ExecAsync(connection, OptInIndex);
                build = clock.Elapsed.TotalSeconds;
            }

            var index = design == "stored" ? "messages_content_tsv_idx" : "messages_content_search_idx";
            var sizes = await QueryAsync(connection, $"SELECT pg_relation_size('public.{index}'), pg_table_size('public.messages')");
            report.Note($"round {round}, search design '{design}': initial load", $"{initial.Rows / initial.Seconds:N0} rows/s",
                $"{initial.Rows:N0} rows in {initial.Seconds:N1} s; {initial.Cpu}");
            report.Note($"round {round}, search design '{design}': incremental pass (10% edited)", $"{incremental.Upserted / incremental.Seconds:N0} rows/s",
                $"{incremental.Upserted:N0} rows in {incremental.Seconds:N1} s; {incremental.Cpu}");
            return new Round(design, initial, incremental, build, (long)sizes[0][0]!, (long)sizes[0][1]!);
        }
    }

    /// <summary>
    /// The searches that tell the designs apart, on this design's data: as one user under RLS (where PostgreSQL cannot
    /// use a GIN index for <c>@@</c>, which is not leakproof, so it tests each of the user's messages) and, with the
    /// stored column, over everyone's messages. 'stored' replaces search_messages by the same function over the column.
    /// </summary>
    private async Task CompareSearchAsync(NpgsqlConnection connection, string design, long n)
    {
        await BenchServers.ExecAsync(connection, "VACUUM ANALYZE public.messages");
        if (design == "stored")
        {
            await BenchServers.ExecAsync(connection,
                """
                CREATE OR REPLACE FUNCTION public.search_messages(query text, max_results integer DEFAULT 50)
                    RETURNS TABLE (id text, session_id text, created_at timestamptz, rank real, snippet text)
                    LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE SET search_path = ''
                AS $fn$
                    SELECT hit.id, hit.session_id, hit.created_at, hit.rank,
                           ts_headline('simple'::regconfig, hit.content, hit.q, 'StartSel=«, StopSel=», MaxFragments=2, MaxWords=24, MinWords=8, ShortWord=0, FragmentDelimiter=" … "')
                      FROM (SELECT m.id, m.session_id, m.created_at, coalesce(m.content, '') AS content, q.q, ts_rank_cd(m.content_tsv, q.q) AS rank
                              FROM public.messages m, (SELECT websearch_to_tsquery('simple'::regconfig, coalesce(query, '')) AS q) q
                             WHERE m.content_tsv @@ q.q AND m.deleted_at IS NULL
                             ORDER BY rank DESC, m.created_at DESC, m.id
                             LIMIT greatest(1, least(coalesce(max_results, 50), 500))) hit
                     ORDER BY hit.rank DESC, hit.created_at DESC, hit.id
                $fn$;
                """);
        }

        var (user, claims) = User(n);
        await TimeAsync(connection, $"design '{design}': search_messages as {user} (RLS): the most common word", claims,
            $"SELECT * FROM public.search_messages('{SearchText.Word(0)}')", plan: false);
        await TimeAsync(connection, $"design '{design}': search_messages as {user} (RLS): '{SearchText.Word(99)} or {SearchText.Word(9_999)} -{SearchText.Word(1)}'", claims,
            $"SELECT * FROM public.search_messages('{SearchText.Word(99)} or {SearchText.Word(9_999)} -{SearchText.Word(1)}')", plan: false);
        if (design == "stored")
        {
            await TimeAsync(connection, $"design '{design}': search_messages bypassing RLS (all users): a word in ~10% of messages", null,
                $"SELECT * FROM public.search_messages('{SearchText.Word(99)}')", plan: false);
        }
    }

    private static (string User, string Claims) User(long n)
    {
        var users = Math.Max(1, n / (BenchData.MessagesPerSession * BenchData.SessionsPerUser));
        var user = $"u-{users / 2:D7}";
        return (user, $$"""{"sub":"{{user}}","role":"authenticated"}""");
    }

    private void Summarize(List<Round> rounds)
    {
        static double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToList();
            return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
        }

        var none = rounds.Where(r => r.Design == "none").ToList();
        foreach (var design in rounds.Select(r => r.Design).Distinct())
        {
            var mine = rounds.Where(r => r.Design == design).ToList();
            var initial = Median(mine.Select(r => r.Initial.Rows / r.Initial.Seconds));
            var incremental = Median(mine.Select(r => r.Incremental.Upserted / r.Incremental.Seconds));
            var against = none.Count == 0 || design == "none"
                ? string.Empty
                : $"; {initial / Median(none.Select(r => r.Initial.Rows / r.Initial.Seconds)):0.00}× / {incremental / Median(none.Select(r => r.Incremental.Upserted / r.Incremental.Seconds)):0.00}× without the index";
            report.Note($"search design '{design}': initial load / incremental pass (median of {mine.Count})", $"{initial:N0} / {incremental:N0} rows/s",
                $"index {Median(mine.Select(r => (double)r.IndexBytes)) / 1048576:N0} MB, table {Median(mine.Select(r => (double)r.TableBytes)) / 1048576:N0} MB{against}");
        }

        if (none.Count > 0)
        {
            var loadThenBuild = Median(none.Select(r => r.Initial.Rows / (r.Initial.Seconds + r.BuildSeconds)));
            report.Note($"opt-in search index built after the initial load (median of {none.Count})", $"{loadThenBuild:N0} rows/s",
                $"load without the index, then CREATE INDEX CONCURRENTLY: {Median(none.Select(r => r.BuildSeconds)):N1} s for {Median(none.Select(r => (double)r.Initial.Rows)):N0} rows; " +
                $"{loadThenBuild / Median(none.Select(r => r.Initial.Rows / r.Initial.Seconds)):0.00}× the load without the index");
        }
    }

    private async Task QueriesAsync(long n)
    {
        await using var connection = await OpenAsync();

        // Under RLS with no full-text index at all (the default): drop the opt-in index the 'none' round built for its
        // timing, and add the heavy users while it is gone (their rows would otherwise pay for it).
        await BenchServers.ExecAsync(connection, "DROP INDEX IF EXISTS public.messages_content_search_idx");
        var copied = 0;
        var owned = new Dictionary<string, long>();
        foreach (var (heavy, count) in HeavyUsers)
        {
            await BenchServers.ExecAsync(connection,
                $"""
                INSERT INTO public.messages (id, session_id, user_id, role, content, model, token_count, created_at, updated_at)
                SELECT '{heavy}-' || m.id, '{heavy}-s-' || (row_number() OVER (ORDER BY m.id) / {BenchData.MessagesPerSession}), '{heavy}', m.role, m.content, m.model, m.token_count, m.created_at, m.updated_at
                  FROM public.messages m WHERE m.user_id NOT LIKE 'u-heavy%' ORDER BY m.id OFFSET {copied} LIMIT {count}
                """);
            copied += count;
            owned[heavy] = (long)(await QueryAsync(connection, $"SELECT count(*) FROM public.messages WHERE user_id = '{heavy}'"))[0][0]!;
        }

        await BenchServers.ExecAsync(connection, "VACUUM ANALYZE public.messages, public.chat_sessions, public.users");
        var (user, claims) = User(n);
        var users = Math.Max(1, n / (BenchData.MessagesPerSession * BenchData.SessionsPerUser));
        var session = $"s-{(users / 2 * BenchData.SessionsPerUser) + 3:D8}";
        var (common, second, mid, rare) = (SearchText.Word(0), SearchText.Word(1), SearchText.Word(99), SearchText.Word(9_999));
        var counts = new List<long>();
        foreach (var word in new[] { common, mid, rare })
        {
            var count = await QueryAsync(connection, $"SELECT count(*) FROM public.messages WHERE user_id NOT LIKE 'u-heavy%' AND to_tsvector('simple'::regconfig, coalesce(content, '')) @@ to_tsquery('simple', '{word}')");
            counts.Add((long)count[0][0]!);
        }

        report.Note("messages holding the query words", $"{counts[0]:N0} / {counts[1]:N0} / {counts[2]:N0} of {n:N0}",
            $"'{common}' (the most common word) / '{mid}' (word 100) / '{rare}' (word 10,000); user {user} owns {BenchData.MessagesPerSession * BenchData.SessionsPerUser} messages, " +
            string.Join(", ", owned.Select(h => $"{h.Key} {h.Value:N0}")));

        var perUser = new List<(string Label, string? Claims, string Sql)>();
        foreach (var (who, owns) in new[] { (user, (long)(BenchData.MessagesPerSession * BenchData.SessionsPerUser)) }.Concat(owned.Select(h => (h.Key, h.Value))))
        {
            var as_ = $$"""{"sub":"{{who}}","role":"authenticated"}""";
            perUser.Add(($"no index: search_messages as {who} ({owns:N0} messages, RLS): the most common word", as_, $"SELECT * FROM public.search_messages('{common}')"));
            perUser.Add(($"no index: search_messages as {who} ({owns:N0} messages, RLS): a phrase of the two most common words", as_, $"SELECT * FROM public.search_messages('\"{common} {second}\"')"));
            perUser.Add(($"no index: search_messages as {who} ({owns:N0} messages, RLS): '{mid} or {rare} -{second}'", as_, $"SELECT * FROM public.search_messages('{mid} or {rare} -{second}')"));
            perUser.Add(($"no index: search_messages as {who} ({owns:N0} messages, RLS): a word in ~0.1% of messages", as_, $"SELECT * FROM public.search_messages('{rare}')"));
        }

        (string Label, string? Claims, string Sql)[] views =
        [
            ($"user_daily_usage as {user} (RLS)", claims, "SELECT * FROM public.user_daily_usage ORDER BY day DESC"),
            ($"model_daily_usage as {user} (RLS)", claims, "SELECT * FROM public.model_daily_usage ORDER BY day DESC"),
            ($"session_summary as {user} (RLS): latest 20 sessions", claims, "SELECT * FROM public.session_summary ORDER BY last_message_at DESC NULLS LAST LIMIT 20"),
            ($"session_summary as {user} (RLS): one session", claims, $"SELECT * FROM public.session_summary WHERE session_id = '{session}'"),
            ("user_daily_usage bypassing RLS: one user", null, $"SELECT * FROM public.user_daily_usage WHERE user_id = '{user}'"),
            ("user_daily_usage bypassing RLS: all users", null, "SELECT * FROM public.user_daily_usage"),
            ("model_daily_usage bypassing RLS: all messages", null, "SELECT * FROM public.model_daily_usage"),
            ("session_summary bypassing RLS: latest 20 sessions of all", null, "SELECT * FROM public.session_summary ORDER BY last_message_at DESC NULLS LAST LIMIT 20"),
        ];

        (string Label, string? Claims, string Sql)[] bypassing =
        [
            ("opt-in index: search_messages bypassing RLS (all users): a word in ~0.1% of messages", null, $"SELECT * FROM public.search_messages('{rare}')"),
            ("opt-in index: search_messages bypassing RLS (all users): a word in ~10% of messages", null, $"SELECT * FROM public.search_messages('{mid}')"),
            ($"opt-in index: search_messages as {HeavyUsers[^1].User} (RLS): a word in ~0.1% of messages (the index is not used)", $$"""{"sub":"{{HeavyUsers[^1].User}}","role":"authenticated"}""", $"SELECT * FROM public.search_messages('{rare}')"),
        ];

        var plans = new StringBuilder();
        foreach (var (label, role, sql) in perUser.Concat(views))
        {
            plans.Append(await TimeAsync(connection, label, role, sql, plan: true));
        }

        await BenchServers.ExecAsync(connection, ExpressionIndex);
        await BenchServers.ExecAsync(connection, "ANALYZE public.messages");
        foreach (var (label, role, sql) in bypassing)
        {
            plans.Append(await TimeAsync(connection, label, role, sql, plan: true));
        }

        Console.WriteLine();
        Console.WriteLine("Plans (auto_explain: ANALYZE, BUFFERS, nested statements):");
        Console.WriteLine(plans);
    }

    private Task<string> TimeAsync(NpgsqlConnection connection, string label, string? claims, string sql, bool plan) =>
        TimeQueryAsync(report, connection, label, claims, sql, plan);

    /// <summary>
    /// Times <paramref name="sql"/> (as authenticated with <paramref name="claims"/>, or as the admin when null) into
    /// <paramref name="report"/>: one warm-up, then the median of 5 (of 1 when a run takes over 3 s, none over 10 s);
    /// with <paramref name="plan"/>, one more run whose plans come back as a markdown section.
    /// </summary>
    internal static async Task<string> TimeQueryAsync(Report report, NpgsqlConnection connection, string label, string? claims, string sql, bool plan)
    {
        // A warm-up run, then 5 timed runs; a slow query fewer: 1 timed run over 3 s, none over 10 s (the warm-up counts).
        var (warmUp, rows) = await RunQueryAsync(connection, claims, sql, explain: false);
        var samples = new List<double>();
        for (var i = 0; i < (warmUp > 10_000 ? 0 : warmUp > 3_000 ? 1 : 5); i++)
        {
            samples.Add((await RunQueryAsync(connection, claims, sql, explain: false)).Ms);
        }

        if (samples.Count == 0)
        {
            samples.Add(warmUp);
        }

        samples.Sort();
        report.Note(label, $"{samples[samples.Count / 2]:N1} ms", $"median of {samples.Count}, {rows} rows returned");
        if (!plan)
        {
            return string.Empty;
        }

        var notices = new StringBuilder();
        void OnNotice(object? sender, NpgsqlNoticeEventArgs e)
        {
            if (!e.Notice.MessageText.Contains("set_config(", StringComparison.Ordinal))
            {
                notices.AppendLine(e.Notice.MessageText);
            }
        }

        connection.Notice += OnNotice;
        try
        {
            await RunQueryAsync(connection, claims, sql, explain: true);
        }
        finally
        {
            connection.Notice -= OnNotice;
        }

        return $"\n### {label}\n\n```\n{notices.ToString().TrimEnd()}\n```\n";
    }

    /// <summary>
    /// Runs <paramref name="sql"/> in a transaction rolled back afterwards: as <c>authenticated</c> with the JWT claims
    /// <paramref name="claims"/> (as PostgREST sets them), or as the connection's own role when null; with
    /// <paramref name="explain"/>, its plans (and its nested statements') come back as notices through auto_explain.
    /// </summary>
    internal static async Task<(double Ms, int Rows)> RunQueryAsync(NpgsqlConnection connection, string? claims, string sql, bool explain)
    {
        await using var transaction = await connection.BeginTransactionAsync();
        var setup = new StringBuilder();
        if (explain)
        {
            setup.Append("LOAD 'auto_explain'; SET LOCAL auto_explain.log_min_duration = 0; SET LOCAL auto_explain.log_analyze = on; SET LOCAL auto_explain.log_buffers = on; ")
                 .Append("SET LOCAL auto_explain.log_nested_statements = on; SET LOCAL auto_explain.log_level = notice; ");
        }

        if (claims is not null)
        {
            setup.Append($"SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', '{claims}', true);");
        }

        if (setup.Length > 0)
        {
            await using var set = new NpgsqlCommand(setup.ToString(), connection, transaction);
            await set.ExecuteNonQueryAsync();
        }

        var clock = Stopwatch.StartNew();
        await using var command = new NpgsqlCommand(sql, connection, transaction) { CommandTimeout = 0 };
        var rows = 0;
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                rows++;
            }
        }

        var ms = clock.Elapsed.TotalMilliseconds;
        await transaction.RollbackAsync();
        return (ms, rows);
    }

    private async Task<NpgsqlConnection> OpenAsync()
    {
        // Unpooled: the next round's reset drops the database WITH (FORCE), which would kill a pooled connection.
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(servers.Postgres) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task<List<object?[]>> QueryAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            var row = new object[reader.FieldCount];
            reader.GetValues(row);
            rows.Add(row);
        }

        return rows;
    }
}
