// Command querybench measures the analyst views and the README's example
// queries at production scale. It creates a scratch database on the server in
// DATABASE_URL (default: postgres on localhost:5432), applies the migrations,
// seeds 250,000 channels of 100,000 clients and 2,000,000 history rows with
// set-based SQL, analyzes, then runs every view and example query under
// EXPLAIN (ANALYZE, BUFFERS) and prints a table of time, rows and plan. The
// scratch database is dropped at the end.
//
//	go run ./cmd/querybench [-readme README.md] [-v]
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hubsync/hubsync/migrations"
	"github.com/hubsync/hubsync/sync/analytics"
)

const defaultURL = "postgres://postgres@localhost:5432/postgres?sslmode=disable"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "querybench:", err)
		os.Exit(1)
	}
}

// scale of the seeded data.
type scale struct {
	clients, channels, historyPerChannel int
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("querybench", flag.ContinueOnError)
	readme := fs.String("readme", "", "README.md holding the example queries (default: the one at the module root)")
	verbose := fs.Bool("v", false, "print every full plan")
	clients := fs.Int("clients", 100_000, "clients to seed")
	channels := fs.Int("channels", 250_000, "channels to seed")
	perChannel := fs.Int("history-per-channel", 8, "history rows per channel")
	jit := fs.Bool("jit", false, "leave JIT compilation as the server has it (the reader role turns it off; see docs/reader-role.sql)")
	runs := fs.Int("runs", 2, "runs of each query; the table shows the last (the first warms the cache)")
	keep := fs.Bool("keep", false, "keep the scratch database (and print its URL) instead of dropping it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sc := scale{*clients, *channels, *perChannel}

	if *readme == "" {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		*readme = filepath.Join(root, "README.md")
	}
	text, err := os.ReadFile(*readme)
	if err != nil {
		return fmt.Errorf("read readme: %w", err)
	}
	examples, err := analytics.ExampleQueries(string(text))
	if err != nil {
		return err
	}

	serverURL := getenv("DATABASE_URL")
	if serverURL == "" {
		serverURL = defaultURL
	}
	dbName := fmt.Sprintf("hubsync_querybench_%d", os.Getpid())
	dbURL, err := withDatabase(serverURL, dbName)
	if err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("connect to server: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dbName}.Sanitize()); err != nil {
		return fmt.Errorf("create scratch database: %w", err)
	}
	defer func() {
		if *keep {
			fmt.Fprintf(out, "kept scratch database: %s\n", dbURL)
			return
		}
		// Dropped even after Ctrl-C, so no context of ours.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(dctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{dbName}.Sanitize()+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "querybench: drop scratch database %s: %v\n", dbName, err)
		}
	}()
	fmt.Fprintf(out, "scratch database %s\n", dbName)

	start := time.Now()
	if err := migrate(ctx, dbURL); err != nil {
		return err
	}
	poolCfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("parse scratch url: %w", err)
	}
	if !*jit {
		poolCfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("open scratch database: %w", err)
	}
	defer pool.Close()
	fmt.Fprintf(out, "migrated in %v\n", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	if err := seed(ctx, pool, sc, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded %d clients, %d channels, %d history rows and analyzed in %v\n\n",
		sc.clients, sc.channels, sc.channels*sc.historyPerChannel, time.Since(start).Round(time.Millisecond))

	var cases []benchCase
	for _, v := range []string{"current_channels", "channel_status_intervals", "daily_channel_status", "client_overview"} {
		cases = append(cases, benchCase{name: "view " + v, sql: "SELECT * FROM hub." + v})
	}
	cases = append(cases,
		benchCase{name: "view current_channels, one client", sql: "SELECT * FROM hub.current_channels WHERE client_id = 'cl42'"},
		benchCase{name: "view channel_status_intervals, one channel", sql: "SELECT * FROM hub.channel_status_intervals WHERE channel_id = 'ch42'"},
		benchCase{name: "view client_overview, one client", sql: "SELECT * FROM hub.client_overview WHERE client_id = 'cl42'"},
	)
	for _, q := range examples {
		cases = append(cases, benchCase{name: q.Title, sql: q.SQL})
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "query\tms\trows\ttop node\tcostliest node (own time)")
	var plans strings.Builder
	for _, c := range cases {
		var res result
		for i := range max(*runs, 1) {
			last := i == max(*runs, 1)-1
			if res, err = explain(ctx, pool, c.sql, *verbose && last); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%d\t%s\t%s\n", c.name, res.ms, res.rows, res.top, res.costliest)
		if *verbose {
			fmt.Fprintf(&plans, "\n-- %s\n%s\n", c.name, res.text)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprint(out, plans.String())
	return nil
}

type benchCase struct{ name, sql string }

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory; pass -readme")
		}
		dir = parent
	}
}

func withDatabase(serverURL, db string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL is not a URL: %w", err)
	}
	u.Path = "/" + db
	return u.String(), nil
}

func migrate(ctx context.Context, dbURL string) error {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("parse scratch url: %w", err)
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	return migrateDB(ctx, sqlDB)
}

func migrateDB(ctx context.Context, sqlDB *sql.DB) error {
	p, err := migrations.NewProvider(sqlDB)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate scratch database: %w", err)
	}
	return nil
}

// seed fills the scratch database with set-based inserts. The data is
// deterministic and self-consistent: each channel's status rows chain (a
// row's from_value is the previous row's to_value), the last one is the
// channel's current status, removed channels end with a row to NULL, and the
// history spreads over the last ~320 days with some channels busy today.
func seed(ctx context.Context, pool *pgxpool.Pool, sc scale, out io.Writer) error {
	steps := []struct{ name, sql string }{
		{"sync_runs", `
			INSERT INTO hub.sync_runs (partner_id, started_at, finished_at, heartbeat_at, status, complete,
			    clients_seen, channels_seen, transitions, api_requests, unknown_values, unknown_value_list, error)
			SELECT 'p1', now() - (3360 - i) * interval '15 minutes',
			       now() - (3360 - i) * interval '15 minutes' + interval '40 seconds',
			       now() - (3360 - i) * interval '15 minutes' + interval '40 seconds',
			       CASE WHEN i % 97 = 0 THEN 'failed' WHEN i % 41 = 0 THEN 'partial' ELSE 'succeeded' END,
			       i % 97 <> 0 AND i % 41 <> 0, $1, $2, i % 50, 2 * $1 / 100 + $1,
			       CASE WHEN i % 7 = 0 THEN 2 ELSE 0 END,
			       CASE WHEN i % 7 = 0 THEN jsonb_build_object('status=status_' || (i % 3), 2) ELSE '{}'::jsonb END,
			       CASE WHEN i % 97 = 0 THEN 'list clients page 3: timeout' WHEN i % 41 = 0 THEN 'clients failed' END
			FROM generate_series(1, 3360) AS i`},
		{"clients", `
			INSERT INTO hub.clients (partner_id, id, name, status, max_channels, contact_email, contact_user_name,
			    raw, content_hash, first_seen_at, updated_at, removed_at)
			SELECT 'p1', 'cl' || i, 'Client ' || i, 'active', 1 + i % 6, 'ops' || i || '@example.com', 'Person ' || i,
			       '{}'::jsonb, '\x00'::bytea, now() - interval '330 days',
			       now() - (i % 300) * interval '1 day',
			       CASE WHEN i % 50 = 0 THEN now() - (i % 30) * interval '1 day' END
			FROM generate_series(1, $1::int) AS i`},
		// status_k(i): status of channel i after its k-th status row; the
		// last (k = 4) is the current one.
		{"channels", `
			INSERT INTO hub.channels (partner_id, id, client_id, status, availability_status, current_quality_rating,
			    current_limit, phone_number, raw, content_hash, first_seen_at, updated_at, removed_at)
			SELECT 'p1', 'ch' || i, 'cl' || (1 + (i::bigint * 48271) % $2::int),
			       hub_bench_status(i, 4),
			       (ARRAY['ready', 'ready', 'ready', 'error', 'setting_up', 'cancelled', 'inactive'])[1 + i % 7],
			       (ARRAY['High', 'High', 'Medium', 'Low', 'NA'])[1 + i % 5],
			       'TIER_1K', '+49' || (100000000 + i), '{}'::jsonb, '\x00'::bytea,
			       now() - hub_bench_span(i) * 9, now() - hub_bench_span(i),
			       CASE WHEN i % 25 = 0 THEN now() - hub_bench_span(i) END
			FROM generate_series(1, $1::int) AS i`},
		{"status_history", `
			INSERT INTO hub.status_history (partner_id, entity, entity_id, client_id, attribute, from_value, to_value,
			    changed_at, sync_run_id)
			SELECT 'p1', 'channel', 'ch' || i, 'cl' || (1 + (i::bigint * 48271) % $2::int), a.attribute, a.from_value, a.to_value,
			       now() - hub_bench_span(i) * (9 - j), 1 + (i + j) % 3360
			FROM generate_series(1, $1::int) AS i
			CROSS JOIN generate_series(1, $3::int) AS j
			CROSS JOIN LATERAL (
			    SELECT CASE WHEN j <= 4 THEN 'status'
			                WHEN j = $3 AND i % 25 = 0 THEN 'status'
			                WHEN j = 5 AND i % 50 = 1 THEN 'client_id'
			                WHEN j IN (5, 6) THEN 'availability_status'
			                WHEN j = 7 THEN 'current_quality_rating'
			                ELSE 'current_limit' END AS attribute
			) k
			CROSS JOIN LATERAL (
			    SELECT k.attribute,
			           CASE k.attribute
			               WHEN 'status' THEN CASE WHEN j <= 4 THEN hub_bench_status(i, j - 1) ELSE hub_bench_status(i, 4) END
			               WHEN 'client_id' THEN 'cl' || (1 + (i::bigint * 7) % $2::int)
			               WHEN 'availability_status' THEN CASE WHEN j = 6 THEN 'setting_up' END
			               WHEN 'current_quality_rating' THEN (ARRAY['High', 'Medium', 'Low'])[1 + i % 3]
			           END AS from_value,
			           CASE k.attribute
			               WHEN 'status' THEN CASE WHEN j <= 4 THEN hub_bench_status(i, j) END
			               WHEN 'client_id' THEN 'cl' || (1 + (i::bigint * 48271) % $2::int)
			               WHEN 'availability_status' THEN
			                   CASE WHEN j = 5 THEN 'setting_up'
			                        ELSE (ARRAY['ready', 'ready', 'ready', 'error', 'setting_up', 'cancelled', 'inactive'])[1 + i % 7] END
			               WHEN 'current_quality_rating' THEN (ARRAY['High', 'High', 'Medium', 'Low', 'NA'])[1 + i % 5]
			               ELSE 'TIER_1K'
			           END AS to_value
			) a`},
	}
	funcs := `
		CREATE FUNCTION hub_bench_status(i int, k int) RETURNS text IMMUTABLE LANGUAGE sql AS $$
		    SELECT CASE WHEN k = 0 THEN NULL
		                WHEN k = 4 THEN (ARRAY['ready', 'ready', 'ready', 'ready', 'ready', 'ready', 'ready',
		                                       'error', 'created', 'verified', 'unverified', 'pending_x'])[1 + i % 12]
		                ELSE (ARRAY['created', 'verified', 'ready', 'error', 'ready'])[1 + (i * 31 + k * 17) % 5] END
		$$;
		-- How far apart a channel's history rows are: channels with a small
		-- span were busy in the last day, the others spread up to ~320 days.
		CREATE FUNCTION hub_bench_span(i int) RETURNS interval IMMUTABLE LANGUAGE sql AS $$
		    SELECT CASE WHEN i % 100 = 3 THEN interval '2 hours'
		                ELSE ((i::bigint * 2654435761) % 1000 + 1) * interval '40 minutes' END
		$$;`
	if _, err := pool.Exec(ctx, funcs); err != nil {
		return fmt.Errorf("create seed functions: %w", err)
	}
	args := []any{sc.channels, sc.clients, sc.historyPerChannel}
	var err error
	for _, s := range steps {
		var a []any
		switch s.name {
		case "clients":
			a = []any{sc.clients}
		case "channels":
			a = []any{sc.channels, sc.clients}
		case "status_history":
			a = args
		default:
			a = []any{sc.clients, sc.channels}
		}
		t := time.Now()
		if s.name == "status_history" {
			err = bulkInsert(ctx, pool, "status_history", s.sql, a)
		} else {
			_, err = pool.Exec(ctx, s.sql, a...)
		}
		if err != nil {
			return fmt.Errorf("seed %s: %w", s.name, err)
		}
		fmt.Fprintf(out, "  seeded %s in %v\n", s.name, time.Since(t).Round(time.Millisecond))
	}
	t := time.Now()
	// VACUUM sets the visibility map, as autovacuum would have on a live
	// database, so that index-only scans are measured as they would run.
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	fmt.Fprintf(out, "  vacuum analyze in %v\n", time.Since(t).Round(time.Millisecond))
	return nil
}

// bulkInsert runs insert into hub.table the way a bulk load does: without
// the table's secondary indexes and foreign key checks, which it then
// rebuilds from their own definitions. Row by row, maintaining eight indexes
// and a foreign key over two million rows takes minutes; this takes seconds.
func bulkInsert(ctx context.Context, pool *pgxpool.Pool, table, insert string, args []any) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
			FROM pg_index i
			WHERE i.indrelid = ('hub.' || $1)::regclass AND NOT i.indisprimary`, table)
		if err != nil {
			return fmt.Errorf("list indexes: %w", err)
		}
		type index struct{ Name, Def string }
		indexes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[index])
		if err != nil {
			return fmt.Errorf("list indexes: %w", err)
		}
		for _, ix := range indexes {
			if _, err := tx.Exec(ctx, "DROP INDEX "+ix.Name); err != nil {
				return fmt.Errorf("drop index %s: %w", ix.Name, err)
			}
		}
		// Skips the foreign key triggers (the seed is consistent by
		// construction). Needs a superuser, as the scratch database does.
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return fmt.Errorf("disable triggers: %w", err)
		}
		if _, err := tx.Exec(ctx, "SET LOCAL maintenance_work_mem = '256MB'"); err != nil {
			return fmt.Errorf("set maintenance_work_mem: %w", err)
		}
		if _, err := tx.Exec(ctx, insert, args...); err != nil {
			return err
		}
		for _, ix := range indexes {
			if _, err := tx.Exec(ctx, ix.Def); err != nil {
				return fmt.Errorf("recreate index %s: %w", ix.Name, err)
			}
		}
		return nil
	})
}

type result struct {
	ms        float64
	rows      int64
	top       string
	costliest string
	text      string
}

type planNode struct {
	NodeType     string     `json:"Node Type"`
	Relation     string     `json:"Relation Name"`
	Index        string     `json:"Index Name"`
	CTE          string     `json:"CTE Name"`
	Strategy     string     `json:"Strategy"`
	ActualTotal  float64    `json:"Actual Total Time"`
	ActualRows   float64    `json:"Actual Rows"`
	ActualLoops  float64    `json:"Actual Loops"`
	SharedHit    int64      `json:"Shared Hit Blocks"`
	SharedRead   int64      `json:"Shared Read Blocks"`
	Plans        []planNode `json:"Plans"`
	ParentRel    string     `json:"Parent Relationship"`
	SubplanName  string     `json:"Subplan Name"`
	IndexCond    string     `json:"Index Cond"`
	RowsFiltered float64    `json:"Rows Removed by Filter"`
}

func (n planNode) label() string {
	s := n.NodeType
	if n.Strategy != "" && n.Strategy != "Plain" {
		s = n.Strategy + " " + s
	}
	if n.Index != "" {
		s += " using " + n.Index
	}
	if n.Relation != "" {
		s += " on " + n.Relation
	}
	if n.CTE != "" {
		s += " on " + n.CTE
	}
	return s
}

// own is the node's own time: its total over all loops less its children's.
func (n planNode) own() float64 {
	t := n.ActualTotal * n.ActualLoops
	for _, c := range n.Plans {
		t -= c.ActualTotal * c.ActualLoops
	}
	return t
}

func costliest(n planNode) planNode {
	best := n
	for _, c := range n.Plans {
		if b := costliest(c); b.own() > best.own() {
			best = b
		}
	}
	return best
}

func explain(ctx context.Context, pool *pgxpool.Pool, query string, withText bool) (result, error) {
	query = strings.TrimSuffix(strings.TrimSpace(query), ";")
	var raw []byte
	if err := pool.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+query).Scan(&raw); err != nil {
		return result{}, fmt.Errorf("explain: %w", err)
	}
	var doc []struct {
		Plan planNode `json:"Plan"`
		Exec float64  `json:"Execution Time"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc) != 1 {
		return result{}, fmt.Errorf("read plan: %v", err)
	}
	top := doc[0].Plan
	c := costliest(top)
	res := result{
		ms:   doc[0].Exec,
		rows: int64(top.ActualRows),
		top: fmt.Sprintf("%s (%.0f ms, buffers hit %d read %d)", top.label(), top.ActualTotal,
			top.SharedHit, top.SharedRead),
		costliest: fmt.Sprintf("%s (%.0f ms in %.0f loops)", c.label(), c.own(), c.ActualLoops),
	}
	if !withText {
		return res, nil
	}
	rows, err := pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+query)
	if err != nil {
		return result{}, fmt.Errorf("explain: %w", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return result{}, fmt.Errorf("explain: %w", err)
	}
	res.text = strings.Join(lines, "\n")
	return res, nil
}
