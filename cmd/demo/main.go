// Command demo shows hubsync end to end with nothing but a Postgres: it runs
// the Partner API simulator in-process, applies the migrations, checks the
// simulator and the database with `hubsync check`, syncs into DATABASE_URL,
// lets the simulator's data churn, syncs again, and prints the run
// summaries, three example queries and where to look next. `make demo` runs
// it.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/term"

	"github.com/hubsync/hubsync/sync/cli"
	"github.com/hubsync/hubsync/sync/dbtest"
	"github.com/hubsync/hubsync/sync/fakehub"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	hub, err := fakehub.New(fakehub.Config{Seed: 42, Clients: 250})
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: hub, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	clients, channels := hub.Counts()
	base := "http://" + ln.Addr().String()
	fmt.Printf("▶ simulator (hubsync fakehub) on %s: partner %s, %d clients, %d channels\n\n",
		base, hub.Config().PartnerID, clients, channels)

	dbURL := dbtest.ServerURL()
	env := map[string]string{
		"DATABASE_URL":       dbURL,
		"HUB_API_URL":        base,
		"HUB_PARTNER_ID":     hub.Config().PartnerID,
		"HUB_API_KEY":        hub.Config().APIKey,
		"HUBSYNC_RATE_LIMIT": "500",
		"HUBSYNC_LOG_FORMAT": "text",
	}
	hubsync := func(args ...string) int {
		code := cli.Run(ctx, args, cli.Env{
			Getenv:   func(k string) string { return env[k] },
			Stdout:   os.Stdout,
			Stderr:   os.Stderr,
			Terminal: func() bool { return term.IsTerminal(int(os.Stderr.Fd())) },
		})
		fmt.Println()
		return code
	}
	sync := func(title string) error {
		fmt.Printf("▶ %s: hubsync sync\n", title)
		if code := hubsync("sync"); code != cli.ExitOK && code != cli.ExitPartial {
			return fmt.Errorf("hubsync sync exited %d", code)
		}
		return nil
	}
	// The check reports pending migrations as a failure, as it would for a
	// partner; the demo applies them first so that it shows a passing check.
	fmt.Println("▶ migrations: hubsync migrate up")
	if code := hubsync("migrate", "up"); code != cli.ExitOK {
		return fmt.Errorf("hubsync migrate up exited %d", code)
	}
	fmt.Println("▶ first contact, read-only: hubsync check")
	switch code := hubsync("check"); code {
	case cli.ExitOK:
	case cli.ExitUsage:
		return fmt.Errorf("hubsync check exited %d", code)
	default:
		fmt.Printf("(hubsync check exited %d; the demo goes on to show what a sync does)\n\n", code)
	}
	if err := sync("first sync"); err != nil {
		return err
	}
	rep := hub.Churn(60)
	fmt.Printf("▶ the simulator churned: %d changes (statuses, quality, limits, channels added, removed and moved)\n\n", len(rep.Changes))
	if err := sync("second sync"); err != nil {
		return err
	}

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	queries := []struct{ title, sql string }{
		{"Live channels by status", `
SELECT status, count(*) AS channels
FROM hub.channels WHERE removed_at IS NULL
GROUP BY status ORDER BY channels DESC LIMIT 8`},
		{"Status changes seen by the last run", `
SELECT from_status, to_status, count(*) AS channels
FROM hub.channel_status_history
WHERE sync_run_id = (SELECT max(id) FROM hub.sync_runs WHERE status <> 'running')
GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 8`},
		{"The last runs", `
SELECT id, status, clients_seen, channels_seen, transitions,
       round(extract(epoch FROM finished_at - started_at)::numeric, 2)::float8 AS seconds
FROM hub.sync_runs ORDER BY id DESC LIMIT 5`},
	}
	for _, q := range queries {
		fmt.Printf("▶ %s\n", q.title)
		if err := printQuery(ctx, conn, q.sql); err != nil {
			return err
		}
		fmt.Println()
	}
	fmt.Print(`▶ Where to look next
  psql "$DATABASE_URL"  then  \dv hub.*  and  \d+ hub.channels   (every column has a comment)
  README.md, section "Query the data"  — a dozen questions answered in SQL
  docs/data-dictionary.md              — every table, view and column
  make test / make bench               — the test suite, the performance table
  docker compose up                    — the full stack: Postgres, the simulator with churn, hubsync serve
`)
	return nil
}

// printQuery prints a query's rows as an aligned table.
func printQuery(ctx context.Context, conn *pgx.Conn, sql string) error {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	var header []string
	for _, f := range rows.FieldDescriptions() {
		header = append(header, f.Name)
	}
	table := [][]string{header}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		line := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				line[i] = "∅"
			} else {
				line[i] = fmt.Sprint(v)
			}
		}
		table = append(table, line)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	widths := make([]int, len(header))
	for _, r := range table {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for n, r := range table {
		var b strings.Builder
		for i, c := range r {
			fmt.Fprintf(&b, "  %-*s", widths[i], c)
		}
		fmt.Println(b.String())
		if n == 0 {
			var sep strings.Builder
			for _, w := range widths {
				sep.WriteString("  " + strings.Repeat("─", w))
			}
			fmt.Println(sep.String())
		}
	}
	return nil
}
