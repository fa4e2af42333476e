package syncer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hubsync/hubsync/sync/cli"
	"github.com/hubsync/hubsync/sync/dbtest"
	"github.com/hubsync/hubsync/sync/fakehub"
)

const (
	secretKey = "key-SEKRET-9999"
	secretPW  = "pw-SEKRET-4242"
)

// secretRole creates a login role with password secretPW that may use the
// database of dbURL, and returns dbURL rewritten to log in as it. (Local
// authentication may be trust, so the password may not even be checked:
// what matters is that it is in the URL and must never be echoed.)
func secretRole(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	role := fmt.Sprintf("hubsync_secret_%d", rand.Uint32())
	server, err := url.Parse(dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(dbURL)
	inDB := *server
	inDB.Path = target.Path
	admin, err := pgx.Connect(ctx, inDB.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	db := pgx.Identifier{strings.TrimPrefix(target.Path, "/")}.Sanitize()
	r := pgx.Identifier{role}.Sanitize()
	for _, q := range []string{
		`CREATE ROLE ` + r + ` LOGIN PASSWORD '` + secretPW + `'`,
		`GRANT CONNECT, TEMPORARY ON DATABASE ` + db + ` TO ` + r,
		`GRANT USAGE, CREATE ON SCHEMA hub, public TO ` + r,
		`GRANT ALL ON ALL TABLES IN SCHEMA hub, public TO ` + r,
		`GRANT ALL ON ALL SEQUENCES IN SCHEMA hub, public TO ` + r,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", strings.ReplaceAll(q, secretPW, "***"), err)
		}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = admin.Exec(ctx, `DROP OWNED BY `+r)
		_, _ = admin.Exec(ctx, `DROP ROLE IF EXISTS `+r)
	})
	u := *target
	u.User = url.UserPassword(role, secretPW)
	if u.Host == "" {
		u.Host = "localhost:5432"
	}
	return u.String()
}

// echoSecrets makes the simulator misbehave the way a careless proxy
// would: it quotes the request's X-API-Key back in error messages, for one
// client's shared numbers and for every PATCH.
func echoSecrets(srv *fakehub.Server, clientID string) {
	srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if (isShared(r) && strings.Contains(r.URL.Path, "/"+clientID+"/")) || isPatch(r) {
			msg, _ := json.Marshal("bad key " + r.Header.Get("X-API-Key") + " for " + r.URL.Path)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"meta":{"developer_message":%s,"http_code":400,"360dialog_trace_id":%s,"details":{"key":[%s]}}}`, msg, msg, msg)
			return true
		}
		return false
	})
}

// TestFaultSecrets runs every command (sync, serve with /metrics, migrate
// status, clients update, fakehub --help, and failing variants) with a
// distinctive API key and database password, and fails if either appears
// in any output, error, metric or text column of any hub table.
func TestFaultSecrets(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Seed: 901, Clients: 12, APIKey: secretKey})
	dbURL := secretRole(t, h.dbURL)
	ids := h.srv.ClientIDs()
	echoSecrets(h.srv, ids[3])

	var outputs []string
	base := map[string]string{
		"DATABASE_URL": dbURL, "HUB_API_URL": h.ts.URL, "HUB_PARTNER_ID": h.srv.Config().PartnerID,
		"HUB_API_KEY": secretKey, "HUBSYNC_RATE_LIMIT": "1000", "FAKEHUB_API_KEY": secretKey,
	}
	run := func(want int, args []string, extra ...string) {
		t.Helper()
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			env[extra[i]] = extra[i+1]
		}
		var out, errOut syncBuffer
		code := cli.Run(context.Background(), args, cli.Env{Getenv: envMap(env), Stdout: &out, Stderr: &errOut, Terminal: func() bool { return false }})
		outputs = append(outputs, fmt.Sprintf("%v stdout:\n%s\nstderr:\n%s", args, out.String(), errOut.String()))
		if code != want {
			t.Errorf("hubsync %s: exit %d, want %d\nstderr: %s", strings.Join(args, " "), code, want, errOut.tail(5))
		}
	}

	run(cli.ExitPartial, []string{"sync"}) // one client's numbers fail with the key quoted
	run(cli.ExitOK, []string{"migrate", "status"})
	run(cli.ExitFailed, []string{"clients", "update", ids[1], "--partner-payload", "x"}) // PATCH refused, quoting the key
	h.srv.SetFault(nil)
	run(cli.ExitOK, []string{"clients", "update", ids[1], "--partner-payload", "y"})
	run(cli.ExitOK, []string{"fakehub", "--help"})
	run(cli.ExitOK, []string{"sync", "--help"})
	run(cli.ExitOK, []string{"serve", "--help"})
	// Database trouble, with the password in the URL.
	unreachable, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	unreachable.Host = "127.0.0.1:1" // nothing listens there, whatever DATABASE_URL names
	run(cli.ExitFailed, []string{"sync"}, "DATABASE_URL", unreachable.String())
	run(cli.ExitFailed, []string{"migrate", "status"}, "DATABASE_URL", unreachable.String())
	run(cli.ExitUsage, []string{"sync"}, "DATABASE_URL", "postgres://u:"+secretPW+"@host:notaport/db")
	run(cli.ExitUsage, []string{"sync"}, "DATABASE_URL", "mysql://u:"+secretPW+"@host/db")

	// serve: one run at start, then /metrics, then a clean stop.
	metrics := serveOnce(t, h, base, &outputs)

	var leaks []string
	for _, o := range append(outputs, metrics) {
		for _, s := range []string{secretKey, secretPW} {
			if strings.Contains(o, s) {
				leaks = append(leaks, fmt.Sprintf("%q in %.300s", s, o[max(0, strings.Index(o, s)-200):]))
			}
		}
	}
	for _, table := range tablesOf(t, h, "hub") {
		n := h.count(t, `SELECT count(*) FROM hub.`+pgx.Identifier{table}.Sanitize()+` t WHERE t::text LIKE '%' || $1 || '%' OR t::text LIKE '%' || $2 || '%'`, secretKey, secretPW)
		if n > 0 {
			leaks = append(leaks, fmt.Sprintf("%d row(s) of hub.%s", n, table))
		}
	}
	for _, l := range leaks {
		t.Errorf("secret leaked: %s", l)
	}
	// A rejected HUB_API_URL with credentials in it is not echoed.
	t.Run("APIURLWithCredentials", func(t *testing.T) {
		before := len(outputs)
		run(cli.ExitUsage, []string{"sync"}, "HUB_API_URL", "http://u:"+secretKey+"@example.invalid")
		if o := outputs[before]; strings.Contains(o, secretKey) {
			t.Errorf("a HUB_API_URL with credentials is echoed: %.200s", o)
		}
	})
	// The failure was recorded, just without the key.
	if n := h.count(t, `SELECT count(*) FROM hub.sync_runs WHERE error LIKE '%REDACTED%' OR error LIKE '%' || $1 || '%'`, ids[3]); n == 0 {
		t.Error("no sync_runs row explains the failing client; the test would prove nothing")
	}
}

func tablesOf(t *testing.T, h *harness, schema string) []string {
	t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(names) < 4 {
		t.Fatalf("tables of %s: %v %v", schema, names, err)
	}
	return names
}

// serveOnce runs `hubsync serve` until its first sync run has finished,
// fetches /metrics, stops it and returns the metrics body.
func serveOnce(t *testing.T, h *harness, base map[string]string, outputs *[]string) string {
	t.Helper()
	env := map[string]string{}
	for k, v := range base {
		env[k] = v
	}
	env["HUBSYNC_HTTP_ADDR"] = "127.0.0.1:0"
	env["HUBSYNC_RUN_AT_START"] = "true"
	env["HUBSYNC_SCHEDULE"] = "0 0 1 1 *"
	env["HUBSYNC_LOG_FORMAT"] = "json"
	before := h.count(t, `SELECT count(*) FROM hub.sync_runs WHERE finished_at IS NOT NULL`)

	pr, pw := io.Pipe()
	var stderr syncBuffer
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = stderr.Write([]byte(line + "\n"))
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "serving metrics and health" {
				if a, ok := m["addr"].(string); ok {
					select {
					case addr <- a:
					default:
					}
				}
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve"}, cli.Env{Getenv: envMap(env), Stdout: &stdout, Stderr: pw, Terminal: func() bool { return false }})
		pw.Close()
	}()
	var a string
	select {
	case a = <-addr:
	case code := <-done:
		t.Fatalf("hubsync serve exited %d before serving:\n%s", code, stderr.tail(10))
	case <-time.After(30 * time.Second):
		t.Fatalf("hubsync serve never said where it serves:\n%s", stderr.tail(10))
	}
	waitFor(t, "serve's first sync run", 30*time.Second, func() bool {
		return h.count(t, `SELECT count(*) FROM hub.sync_runs WHERE finished_at IS NOT NULL`) > before
	})
	var body []byte
	var mu sync.Mutex
	resp, err := http.Get("http://" + a + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	mu.Lock()
	body, _ = io.ReadAll(resp.Body)
	mu.Unlock()
	resp.Body.Close()
	if !strings.Contains(string(body), "hubsync_") {
		t.Errorf("/metrics has no hubsync metrics:\n%.500s", body)
	}
	cancel()
	select {
	case code := <-done:
		if code != cli.ExitOK {
			t.Errorf("hubsync serve stopped with exit %d, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("hubsync serve did not stop")
	}
	*outputs = append(*outputs, "serve stdout:\n"+stdout.String()+"\nstderr:\n"+stderr.String())
	return string(body)
}

// TestFaultConfiguration: a missing or malformed setting stops the command
// with exit status 2 and a message naming the setting, without a stack
// trace and before touching the database or the API.
func TestFaultConfiguration(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable", "HUB_API_URL": "http://127.0.0.1:1",
		"HUB_PARTNER_ID": "p", "HUB_API_KEY": "k",
	}
	cases := []struct {
		args    []string
		env     []string // name, value; "" removes it
		setting string   // must appear in the message
	}{
		{[]string{"serve"}, []string{"HUBSYNC_SCHEDULE", "every minute"}, "HUBSYNC_SCHEDULE"},
		{[]string{"serve"}, []string{"HUBSYNC_SCHEDULE", "61 * * * *"}, "HUBSYNC_SCHEDULE"},
		{[]string{"serve"}, []string{"HUBSYNC_HTTP_ADDR", "not an address"}, "HUBSYNC_HTTP_ADDR"},
		{[]string{"serve"}, []string{"HUBSYNC_SHUTDOWN_GRACE", "-5s"}, "HUBSYNC_SHUTDOWN_GRACE"},
		{[]string{"sync"}, []string{"HUB_API_URL", "not a url"}, "HUB_API_URL"},
		{[]string{"sync"}, []string{"HUB_API_URL", "ftp://hub.example"}, "HUB_API_URL"},
		{[]string{"sync"}, []string{"HUB_API_URL", "http://"}, "HUB_API_URL"},
		{[]string{"sync"}, []string{"DATABASE_URL", "mysql://x/y"}, "DATABASE_URL"},
		{[]string{"sync"}, []string{"HUBSYNC_CONCURRENCY", "-1"}, "HUBSYNC_CONCURRENCY"},
		{[]string{"sync"}, []string{"HUBSYNC_CONCURRENCY", "many"}, "HUBSYNC_CONCURRENCY"},
		{[]string{"sync"}, []string{"HUBSYNC_RATE_LIMIT", "fast"}, "HUBSYNC_RATE_LIMIT"},
		{[]string{"sync"}, []string{"HUBSYNC_RATE_LIMIT", "-2"}, "HUBSYNC_RATE_LIMIT"},
		{[]string{"sync"}, []string{"HUBSYNC_PAGE_SIZE", "0"}, "HUBSYNC_PAGE_SIZE"},
		{[]string{"sync"}, []string{"HUBSYNC_ALLOW_MASS_REMOVAL", "maybe"}, "HUBSYNC_ALLOW_MASS_REMOVAL"},
		{[]string{"sync"}, []string{"HUBSYNC_LOG_FORMAT", "xml"}, "HUBSYNC_LOG_FORMAT"},
		{[]string{"sync"}, []string{"HUB_PARTNER_ID", ""}, "HUB_PARTNER_ID"},
		{[]string{"sync"}, []string{"HUB_API_KEY", ""}, "HUB_API_KEY"},
		{[]string{"sync", "--concurrency", "-3"}, nil, "--concurrency"},
		{[]string{"sync", "--rate-limit", "x"}, nil, "--rate-limit"},
		{[]string{"migrate", "status"}, []string{"DATABASE_URL", "::"}, "DATABASE_URL"},
		{[]string{"clients", "update", "c1", "--max-channels", "-1"}, nil, "--max-channels"},
		{[]string{"clients", "update", "c1", "--partner-payload", "x"}, []string{"HUB_API_URL", "nope"}, "HUB_API_URL"},
	}
	for _, c := range cases {
		name := strings.Join(c.args, " ") + " " + strings.Join(c.env, "=")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for i := 0; i+1 < len(c.env); i += 2 {
				env[c.env[i]] = c.env[i+1]
			}
			var out, errOut syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			code := cli.Run(ctx, c.args, cli.Env{Getenv: envMap(env), Stdout: &out, Stderr: &errOut, Terminal: func() bool { return false }})
			all := out.String() + errOut.String()
			if code != cli.ExitUsage {
				t.Errorf("exit %d, want %d (usage/config)\n%s", code, cli.ExitUsage, all)
			}
			if !strings.Contains(errOut.String(), c.setting) {
				t.Errorf("the message does not name %s:\n%s", c.setting, errOut.String())
			}
			if strings.Contains(all, "goroutine ") || strings.Contains(all, "panic") || strings.Contains(all, ".go:") {
				t.Errorf("the output carries a stack trace:\n%s", all)
			}
		})
	}
}
