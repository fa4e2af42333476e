package check

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hubsync/hubsync/migrations"
)

// DatabaseResult is the database step: reachable, migrations, privileges.
type DatabaseResult struct {
	Step
	Reachable     bool   `json:"reachable"`
	ServerVersion string `json:"server_version,omitempty"`
	// Migrations is "current", "pending", "ahead" (the database has
	// migrations this binary does not know) or "" when unknown.
	Migrations      string `json:"migrations,omitempty"`
	DatabaseVersion int64  `json:"database_version"`
	BinaryVersion   int64  `json:"binary_version"`
	// MissingPrivileges lists what the role lacks in schema hub, as
	// "INSERT on hub.clients".
	MissingPrivileges []string `json:"missing_privileges"`
}

// The privileges a sync needs in schema hub.
var neededPrivileges = []struct{ table, privilege string }{
	{"hub.clients", "SELECT"}, {"hub.clients", "INSERT"}, {"hub.clients", "UPDATE"},
	{"hub.channels", "SELECT"}, {"hub.channels", "INSERT"}, {"hub.channels", "UPDATE"},
	{"hub.status_history", "SELECT"}, {"hub.status_history", "INSERT"},
	{"hub.sync_runs", "SELECT"}, {"hub.sync_runs", "INSERT"}, {"hub.sync_runs", "UPDATE"},
}

// checkDatabase connects read-only (default_transaction_read_only), so that
// nothing it or goose runs can write.
func checkDatabase(ctx context.Context, dbURL string) DatabaseResult {
	var r DatabaseResult
	r.MissingPrivileges = []string{}
	pc, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		// pgx's message may quote the URL, password and all.
		r.fail("fix DATABASE_URL", "DATABASE_URL is not a valid Postgres connection string")
		return r
	}
	pc.ConnConfig.RuntimeParams["application_name"] = "hubsync check"
	pc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	pc.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		r.fail("check DATABASE_URL", "cannot connect to the database: %v", err)
		return r
	}
	defer pool.Close()
	qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.QueryRow(qctx, "SHOW server_version").Scan(&r.ServerVersion); err != nil {
		r.fail("check DATABASE_URL and that Postgres is running and accepts this role", "cannot reach the database: %v", err)
		return r
	}
	r.Reachable = true
	var user string
	_ = pool.QueryRow(qctx, "SELECT current_user").Scan(&user)
	r.ok("reachable: PostgreSQL %s, as role %s", r.ServerVersion, user)

	checkMigrations(qctx, pool, &r)
	if r.Migrations == "pending" && r.DatabaseVersion == 0 {
		r.skip("privileges not checked: schema hub does not exist yet")
		return r
	}
	checkPrivileges(qctx, pool, &r, user)
	return r
}

func checkMigrations(ctx context.Context, pool *pgxpool.Pool, r *DatabaseResult) {
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	p, err := migrations.NewProvider(sqlDB)
	if err != nil {
		r.fail("", "cannot read this binary's migrations: %v", err)
		return
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		r.BinaryVersion = srcs[len(srcs)-1].Version
	}
	// goose creates its version table when it is missing: look first.
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('goose_db_version') IS NOT NULL").Scan(&exists); err != nil {
		r.fail("", "cannot look for the migrations table: %v", err)
		return
	}
	if !exists {
		r.Migrations = "pending"
		r.fail("run hubsync migrate up (hubsync serve also applies them)",
			"no migrations applied: this database has no hubsync schema yet (this binary has %d)", len(srcs))
		return
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		r.fail("", "cannot read the applied migrations: %v", err)
		return
	}
	r.DatabaseVersion = current
	if current > target {
		r.Migrations = "ahead"
		r.fail("run the hubsync release that applied them, or a newer one",
			"the database is at migration %d, ahead of this binary (which knows up to %d)", current, target)
		return
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		r.fail("", "cannot compare the applied migrations with this binary's: %v", err)
		return
	}
	if pending {
		r.Migrations = "pending"
		r.fail("run hubsync migrate up (hubsync serve also applies them)",
			"migrations pending: the database is at %d, this binary at %d", current, target)
		return
	}
	r.Migrations = "current"
	r.ok("migrations current (version %d)", current)
}

func checkPrivileges(ctx context.Context, pool *pgxpool.Pool, r *DatabaseResult, user string) {
	var usage bool
	err := pool.QueryRow(ctx, "SELECT to_regnamespace('hub') IS NOT NULL AND has_schema_privilege('hub', 'USAGE')").Scan(&usage)
	if err != nil {
		r.fail("", "cannot check privileges: %v", err)
		return
	}
	if !usage {
		r.MissingPrivileges = append(r.MissingPrivileges, "USAGE on schema hub")
	} else {
		for _, p := range neededPrivileges {
			var has bool
			err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL AND has_table_privilege($1, $2)", p.table, p.privilege).Scan(&has)
			if err != nil {
				r.fail("", "cannot check privileges: %v", err)
				return
			}
			if !has {
				r.MissingPrivileges = append(r.MissingPrivileges, p.privilege+" on "+p.table)
			}
		}
	}
	if len(r.MissingPrivileges) > 0 {
		r.fail(fmt.Sprintf("connect as the role that owns schema hub, or GRANT what is missing to %s", user),
			"role %s cannot write schema hub: it lacks %s", user, strings.Join(r.MissingPrivileges, ", "))
		return
	}
	r.ok("role %s can write schema hub (clients, channels, status_history, sync_runs)", user)
}
