package analytics_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hubsync/hubsync/db"
	"github.com/hubsync/hubsync/sync/dbtest"
)

const readerScript = "../../docs/reader-role.sql"

// readerRoles are the roles a test created from docs/reader-role.sql.
type readerRoles struct {
	reader, login, password string
	admin                   *pgx.Conn // the server's admin, connected to the test database
	loginURL                string    // the test database as login
}

// adminConn connects as the server's administrator (DATABASE_URL's user) to
// the test's database: roles need CREATEROLE, which pgtestdb's user lacks.
func adminConn(t *testing.T, f *fixture) *pgx.Conn {
	t.Helper()
	server, err := url.Parse(dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	test, err := url.Parse(f.url)
	if err != nil {
		t.Fatal(err)
	}
	server.Path = test.Path
	conn, err := pgx.Connect(f.ctx, server.String())
	if err != nil {
		t.Fatalf("connect as admin: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	var canCreateRoles bool
	if err := conn.QueryRow(f.ctx, `SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user`).Scan(&canCreateRoles); err != nil {
		t.Fatal(err)
	}
	if !canCreateRoles {
		t.Skipf("DATABASE_URL's user cannot create roles")
	}
	return conn
}

// uniqueName is a role name no other test (or run) uses: roles are
// cluster-wide.
func uniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// hubOwner is the role that ran the migrations, as hubsync's own user does
// in production.
func hubOwner(t *testing.T, f *fixture) string {
	t.Helper()
	var owner string
	if err := f.pool.QueryRow(f.ctx, `SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'hub'`).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	return owner
}

// dropRolesOnCleanup drops the roles when the test ends, before pgtestdb
// drops the database: DROP OWNED revokes their grants here (and on the
// database itself), which DROP ROLE needs.
func dropRolesOnCleanup(t *testing.T, admin *pgx.Conn, roles ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, r := range roles {
			id := pgx.Identifier{r}.Sanitize()
			var exists bool
			if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, r).Scan(&exists); err != nil || !exists {
				continue
			}
			if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, r); err != nil {
				t.Errorf("end the sessions of %s: %v", r, err)
			}
			if _, err := admin.Exec(ctx, "DROP OWNED BY "+id); err != nil {
				t.Errorf("drop owned by %s: %v", r, err)
			}
			if _, err := admin.Exec(ctx, "DROP ROLE "+id); err != nil {
				t.Errorf("drop role %s: %v", r, err)
			}
		}
	})
}

// renderReaderScript turns docs/reader-role.sql into plain SQL the way psql
// would run it with every variable set: psql meta-commands (\if, \set, …)
// go, and :"name" and :'name' become a quoted identifier and literal.
func renderReaderScript(t *testing.T, vars map[string]string) string {
	t.Helper()
	text, err := os.ReadFile(readerScript)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), `\`) {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	sql := b.String()
	for name, value := range vars {
		sql = strings.ReplaceAll(sql, `:"`+name+`"`, pgx.Identifier{value}.Sanitize())
		sql = strings.ReplaceAll(sql, `:'`+name+`'`, "'"+strings.ReplaceAll(value, "'", "''")+"'")
	}
	for _, marker := range []string{`:"`, `:'`} {
		if i := strings.Index(sql, marker); i >= 0 {
			t.Fatalf("%s uses a psql variable the test does not set, near %q", readerScript, sql[i:min(len(sql), i+30)])
		}
	}
	return sql
}

// createReader runs docs/reader-role.sql as the administrator would, with a
// unique group role and a login role in it.
func createReader(t *testing.T, f *fixture) readerRoles {
	t.Helper()
	admin := adminConn(t, f)
	r := readerRoles{reader: uniqueName("hub_reader"), password: "secret-" + uniqueName("pw"), admin: admin}
	r.login = r.reader + "_login"
	dropRolesOnCleanup(t, admin, r.login, r.reader)
	var dbName string
	if err := admin.QueryRow(f.ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	sql := renderReaderScript(t, map[string]string{
		"reader": r.reader, "owner": hubOwner(t, f), "login": r.login, "password": r.password, "DBNAME": dbName,
	})
	// No arguments: the simple protocol, which runs the whole script.
	if _, err := admin.Exec(f.ctx, sql); err != nil {
		t.Fatalf("run %s: %v", readerScript, err)
	}
	u, err := url.Parse(f.url)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(r.login, r.password)
	r.loginURL = u.String()
	return r
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestReaderRole(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.client(client{ID: "cl1", Name: "Acme"})
	f.channel(channel{ID: "ch1", ClientID: "cl1"}, step{f.ago(day), "ready"})
	r := createReader(t, f)

	pool := dbtest.Pool(t, r.loginURL)
	ctx := f.ctx

	t.Run("settings", func(t *testing.T) {
		t.Parallel()
		for setting, want := range map[string]string{
			"default_transaction_read_only":       "on",
			"statement_timeout":                   "5min",
			"idle_in_transaction_session_timeout": "10min",
			"lock_timeout":                        "30s",
			"jit":                                 "off",
		} {
			var got string
			if err := pool.QueryRow(ctx, "SHOW "+setting).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("login role's %s = %q, want %q", setting, got, want)
			}
		}
	})

	t.Run("reads every table and view", func(t *testing.T) {
		t.Parallel()
		rows, err := f.pool.Query(ctx, `
			SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = 'hub' AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		rels, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if len(rels) < 9 {
			t.Fatalf("found %d tables and views in hub, expected at least 9", len(rels))
		}
		for _, rel := range rels {
			var n int64
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM hub."+pgx.Identifier{rel}.Sanitize()).Scan(&n); err != nil {
				t.Errorf("SELECT from hub.%s as the reader: expected success, got %v", rel, err)
			}
		}
		var status string
		if err := pool.QueryRow(ctx, `SELECT status FROM hub.current_channels WHERE channel_id = 'ch1'`).Scan(&status); err != nil || status != "ready" {
			t.Errorf("reader sees ch1 as %q (err %v), expected ready", status, err)
		}
	})

	t.Run("read-only by default", func(t *testing.T) {
		t.Parallel()
		_, err := pool.Exec(ctx, `UPDATE hub.channels SET status = 'x'`)
		if got := sqlState(err); got != "25006" {
			t.Errorf("UPDATE in a default transaction: expected read_only_sql_transaction (25006), got %v", err)
		}
	})

	// Even in a read-write transaction, which any session may ask for, the
	// missing grants refuse every write.
	for _, stmt := range []string{
		`INSERT INTO hub.clients (partner_id, id, raw, content_hash) VALUES ('p1', 'x', '{}', '\x00')`,
		`UPDATE hub.channels SET status = 'error'`,
		`DELETE FROM hub.status_history`,
		`TRUNCATE hub.sync_runs CASCADE`,
		`CREATE TABLE hub.scratch (x int)`,
		`CREATE VIEW hub.scratch_view AS SELECT 1 AS x`,
		`CREATE TABLE public.scratch (x int)`,
		`ALTER TABLE hub.channels ADD COLUMN x int`,
		`DROP VIEW hub.current_channels`,
	} {
		t.Run("refuses "+strings.Fields(stmt)[0]+" "+strings.Fields(stmt)[1], func(t *testing.T) {
			t.Parallel()
			err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadWrite}, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, stmt)
				return err
			})
			// 42501 insufficient_privilege; ownership checks (ALTER, DROP) say 42501 too.
			if got := sqlState(err); got != "42501" {
				t.Errorf("%s as the reader: expected insufficient_privilege (42501), got %v", stmt, err)
			}
		})
	}

	t.Run("future tables", func(t *testing.T) {
		t.Parallel()
		// The owner (the role that runs migrations) adds a table later.
		if _, err := f.pool.Exec(ctx, `CREATE TABLE hub.added_later (x int); INSERT INTO hub.added_later VALUES (7)`); err != nil {
			t.Fatal(err)
		}
		var x int
		if err := pool.QueryRow(ctx, `SELECT x FROM hub.added_later`).Scan(&x); err != nil || x != 7 {
			t.Errorf("reader reads a table created after the grants: expected 7, got %d (err %v)", x, err)
		}
	})
}

// TestReaderRoleScriptRunsInPsql runs docs/reader-role.sql the way its
// header says, through psql with its variables, and checks what it made.
func TestReaderRoleScriptRunsInPsql(t *testing.T) {
	t.Parallel()
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql is not installed")
	}
	f := setup(t)
	admin := adminConn(t, f)
	reader, login := uniqueName("hub_reader"), uniqueName("hub_login")
	dropRolesOnCleanup(t, admin, login, reader)

	server, _ := url.Parse(dbtest.ServerURL())
	test, _ := url.Parse(f.url)
	server.Path = test.Path
	cmd := exec.CommandContext(f.ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-v", "reader="+reader, "-v", "owner="+hubOwner(t, f), "-v", "login="+login, "-v", "password=it's secret",
		"-f", readerScript, server.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql -f %s: %v\n%s", readerScript, err, out)
	}

	var isLogin, inGroup, canSelect, canInsert bool
	var config []string
	if err := admin.QueryRow(f.ctx, `
		SELECT l.rolcanlogin, pg_has_role(l.oid, g.oid, 'MEMBER'), coalesce(l.rolconfig, '{}'),
		       has_table_privilege(l.oid, 'hub.client_overview', 'SELECT'),
		       has_table_privilege(l.oid, 'hub.channels', 'INSERT')
		FROM pg_roles l, pg_roles g WHERE l.rolname = $1 AND g.rolname = $2`, login, reader,
	).Scan(&isLogin, &inGroup, &config, &canSelect, &canInsert); err != nil {
		t.Fatal(err)
	}
	if !isLogin || !inGroup || !canSelect || canInsert {
		t.Errorf("login role: expected login, member of %s, SELECT and no INSERT; got login=%v member=%v select=%v insert=%v",
			reader, isLogin, inGroup, canSelect, canInsert)
	}
	want := []string{"default_transaction_read_only=on", "statement_timeout=5min",
		"idle_in_transaction_session_timeout=10min", "lock_timeout=30s", "jit=off"}
	if strings.Join(config, ",") != strings.Join(want, ",") {
		t.Errorf("login role settings: expected %v, got %v", want, config)
	}
	var groupLogin bool
	if err := admin.QueryRow(f.ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, reader).Scan(&groupLogin); err != nil || groupLogin {
		t.Errorf("group role %s: expected NOLOGIN, got login=%v (err %v)", reader, groupLogin, err)
	}
}

// TestLongReadDoesNotBlockSync shows that an analyst's long read (a
// REPEATABLE READ transaction holding its snapshot, then a query over the
// views still running) does not hold up the sync's writes: the same sqlc
// upserts the syncer runs finish while it is open.
func TestLongReadDoesNotBlockSync(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.run(run{StartedAt: f.ago(time.Hour), Took: time.Minute, Status: "succeeded"})
	f.client(client{ID: "cl1", Name: "Acme"})
	f.channel(channel{ID: "ch1", ClientID: "cl1"}, step{f.ago(day), "ready"})
	r := createReader(t, f)
	ctx := f.ctx

	reader, err := pgx.Connect(ctx, r.loginURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close(context.Background()) })
	var readerPID int32
	if err := reader.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&readerPID); err != nil {
		t.Fatal(err)
	}
	tx, err := reader.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	statusAsReader := func() string {
		t.Helper()
		var s string
		if err := tx.QueryRow(ctx, `SELECT status FROM hub.current_channels WHERE channel_id = 'ch1'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := statusAsReader(); got != "ready" {
		t.Fatalf("reader sees ch1 %q, expected ready", got)
	}

	upsert := func(status, newChannel string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		text := func(v string) pgtype.Text { return pgtype.Text{String: v, Valid: true} }
		run := pgtype.Int8{Int64: 1, Valid: true}
		var c, ch map[string]int32
		err := pgx.BeginFunc(wctx, f.pool, func(tx pgx.Tx) error {
			q := db.New(tx)
			if err := q.ClientStageCreate(wctx); err != nil {
				return err
			}
			if _, err := q.ClientStageCopy(wctx, []db.ClientStageCopyParams{{PartnerID: partner, ID: "cl1",
				Name: text("Acme " + status), Status: text("active"), Raw: []byte(`{"v":"` + status + `"}`), ContentHash: []byte(status)}}); err != nil {
				return err
			}
			rows, err := q.ClientUpsert(wctx, db.ClientUpsertParams{PartnerID: partner, RunID: run})
			if err != nil {
				return err
			}
			c = map[string]int32{}
			for _, r := range rows {
				c[r.Kind] += r.N
			}
			if err := q.ChannelStageCreate(wctx); err != nil {
				return err
			}
			if _, err := q.ChannelStageCopy(wctx, []db.ChannelStageCopyParams{
				{PartnerID: partner, ID: "ch1", ClientID: "cl1", Status: text(status), Raw: []byte(`{"s":"` + status + `"}`), ContentHash: []byte(status)},
				{PartnerID: partner, ID: newChannel, ClientID: "cl1", Status: text("created"), Raw: []byte(`{}`), ContentHash: []byte{0}},
			}); err != nil {
				return err
			}
			crows, err := q.ChannelUpsert(wctx, db.ChannelUpsertParams{PartnerID: partner, RunID: run})
			ch = map[string]int32{}
			for _, r := range crows {
				ch[r.Kind] += r.N
			}
			return err
		})
		if err != nil {
			t.Fatalf("a sync's write while an analyst reads: expected it to finish, got %v", err)
		}
		if c["updated"] != 1 {
			t.Errorf("ClientUpsert: expected 1 client updated, got %v", c)
		}
		if ch["inserted"] != 1 || ch["updated"] != 1 {
			t.Errorf("ChannelUpsert: expected 1 inserted and 1 updated, got %v", ch)
		}
	}

	// 1. The reader sits in its transaction with its snapshot: the sync
	// writes, and the reader keeps seeing the world as it was.
	upsert("error", "ch2")
	if got := statusAsReader(); got != "ready" {
		t.Errorf("reader's snapshot sees ch1 %q after the sync wrote, expected still ready", got)
	}

	// 2. A query over the views is running (pg_sleep keeps it so) when the
	// sync writes again.
	// If the test stops early, cancel the sleeping query and wait for it
	// before the connection closes.
	queryCtx, cancelQuery := context.WithCancel(ctx)
	done, finished := make(chan error, 1), make(chan struct{})
	t.Cleanup(func() { cancelQuery(); <-finished })
	go func() {
		defer close(finished)
		_, err := tx.Exec(queryCtx, `
			SELECT (SELECT count(*) FROM hub.client_overview), (SELECT count(*) FROM hub.channel_status_intervals),
			       (SELECT count(*) FROM hub.daily_channel_status), pg_sleep(600)`)
		done <- err
	}()
	waitFor(t, "the reader's query to be sleeping", func() bool {
		select {
		case err := <-done:
			t.Fatalf("the reader's query ended early: %v", err)
		default:
		}
		return activity(t, r.admin, readerPID) == "active/PgSleep"
	})
	upsert("ready", "ch3")
	if got := activity(t, r.admin, readerPID); got != "active/PgSleep" {
		t.Errorf("the reader's query ended before the writes did (%s): the test proved nothing", got)
	}
	var canceled bool
	if err := r.admin.QueryRow(ctx, `SELECT pg_cancel_backend($1)`, readerPID).Scan(&canceled); err != nil || !canceled {
		t.Fatalf("cancel the reader's query: %v %v", canceled, err)
	}
	if err := <-done; sqlState(err) != "57014" {
		t.Errorf("reader's query: expected it canceled (57014), got %v", err)
	}
	_ = tx.Rollback(ctx)

	var status string
	var channels int
	if err := f.pool.QueryRow(ctx, `SELECT (SELECT status FROM hub.channels WHERE id = 'ch1'), (SELECT count(*) FROM hub.current_channels)`).Scan(&status, &channels); err != nil {
		t.Fatal(err)
	}
	if status != "ready" || channels != 3 {
		t.Errorf("after the sync: expected ch1 ready and 3 live channels, got %q and %d", status, channels)
	}
}

// activity is the reader backend's state and wait event, as "state/event",
// read as the administrator: other roles see NULL there.
func activity(t *testing.T, admin *pgx.Conn, pid int32) string {
	t.Helper()
	var s string
	if err := admin.QueryRow(context.Background(), `
		SELECT coalesce(state, '') || '/' || coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&s); err != nil {
		t.Fatalf("read pg_stat_activity: %v", err)
	}
	return s
}

// waitFor polls cond until it holds, failing the test after 15 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
