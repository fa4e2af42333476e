package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for goose

	"github.com/hubsync/hubsync/migrations"
)

// pgServer hands out scratch databases on one Postgres server and drops them
// at the end.
type pgServer struct {
	url    *url.URL // the server URL as given (its database is the admin one)
	admin  *pgxpool.Pool
	prefix string
	n      int // scratch databases created
	meters int // WAL meters started
	dbs    []string
	// walInspect says whether WAL can be attributed to one database with
	// pg_walinspect (Postgres 15+, superuser); otherwise only the
	// cluster-wide LSN difference is known.
	walInspect bool
	info       serverInfo
}

// serverInfo describes the server for the report.
type serverInfo struct {
	version                                  string
	sharedBuffers, syncCommit, checksums, av string
}

func openServer(ctx context.Context, rawURL string) (*pgServer, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("DATABASE_URL must be a postgres:// URL")
	}
	pool, err := pgxpool.New(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	p := &pgServer{url: u, admin: pool, prefix: fmt.Sprintf("hubsync_bench_%d", os.Getpid())}
	err = pool.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('shared_buffers'),
		current_setting('synchronous_commit'), current_setting('data_checksums'), current_setting('autovacuum')`).
		Scan(&p.info.version, &p.info.sharedBuffers, &p.info.syncCommit, &p.info.checksums, &p.info.av)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("read server settings: %w", err)
	}
	var super, avail bool
	err = pool.QueryRow(ctx, `SELECT current_setting('is_superuser') = 'on',
		EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_walinspect')`).Scan(&super, &avail)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("check pg_walinspect: %w", err)
	}
	p.walInspect = super && avail
	return p, nil
}

// dbURL is the server URL pointing at database name.
func (p *pgServer) dbURL(name string) string {
	u := *p.url
	u.Path = "/" + name
	return u.String()
}

// createDB creates a scratch database and applies the migrations to it.
func (p *pgServer) createDB(ctx context.Context) (string, error) {
	p.n++
	name := fmt.Sprintf("%s_%d", p.prefix, p.n)
	if _, err := p.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	p.dbs = append(p.dbs, name)
	u := p.dbURL(name)
	db, err := sql.Open("pgx", u)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", name, err)
	}
	defer db.Close()
	prov, err := migrations.NewProvider(db)
	if err != nil {
		return "", err
	}
	if _, err := prov.Up(ctx); err != nil {
		return "", fmt.Errorf("migrate %s: %w", name, err)
	}
	return u, nil
}

// dropAll drops every scratch database created, even when ctx has ended.
func (p *pgServer) dropAll() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, name := range p.dbs {
		if _, err := p.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: drop database %s: %v\n", name, err)
		}
	}
	p.dbs = nil
}

func (p *pgServer) close() { p.admin.Close() }

// settle runs what autovacuum would do after a run (it may be off, and must
// not run inside the next measured window): VACUUM (ANALYZE) of the synced
// tables.
func settle(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, `VACUUM (ANALYZE) hub.clients, hub.channels, hub.status_history, hub.sync_runs`)
	if err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return checkpoint(ctx, pool)
}

// checkpoint writes the server's dirty pages back now, so that the next run
// is not measured while a checkpoint spreads a first sync's 1.3 GB over its
// window (the floors, measured first, run on a quiet server too).
func checkpoint(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, `CHECKPOINT`); err != nil {
		return fmt.Errorf("checkpoint (needs a superuser or pg_checkpoint): %w", err)
	}
	return nil
}

// walMeter measures the WAL written between start and stop: the cluster-wide
// LSN difference, and (with pg_walinspect) the bytes of the WAL records that
// touch one database's relations. The cluster is shared, so only the second
// belongs to the run; it excludes commit records, which name no relation.
type walMeter struct {
	conn   *pgx.Conn // holds a temporary replication slot so the WAL stays readable
	start  string
	dbOID  uint32
	inspct bool
}

func (p *pgServer) startWAL(ctx context.Context, dbURL string) (*walMeter, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("connect for wal: %w", err)
	}
	w := &walMeter{conn: conn, inspct: p.walInspect}
	if w.inspct {
		if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_walinspect`); err != nil {
			w.inspct = false
		}
	}
	if w.inspct {
		p.meters++
		slot := fmt.Sprintf("%s_wal_%d", p.prefix, p.meters)
		// Temporary: it goes away with this session, whatever happens to the bench.
		if _, err := conn.Exec(ctx, `SELECT pg_create_physical_replication_slot($1, true, true)`, slot); err != nil {
			w.inspct = false
		}
	}
	err = conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text, oid FROM pg_database WHERE datname = current_database()`).Scan(&w.start, &w.dbOID)
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("read wal lsn: %w", err)
	}
	return w, nil
}

// stop returns the cluster-wide WAL bytes and this database's (-1 when
// unknown).
func (w *walMeter) stop(ctx context.Context) (cluster, db int64, err error) {
	defer w.conn.Close(context.WithoutCancel(ctx))
	// The records are read up to what is flushed: every commit of the
	// measured process is, and pg_walinspect refuses a later end.
	var end string
	err = w.conn.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::text, pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint`, w.start).Scan(&end, &cluster)
	if err != nil {
		return 0, 0, fmt.Errorf("read wal lsn: %w", err)
	}
	db = -1
	if w.inspct {
		pat := fmt.Sprintf("%%/%d/%%", w.dbOID)
		err = w.conn.QueryRow(ctx, `SELECT coalesce(sum(record_length), 0)::bigint
			FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn) WHERE block_ref LIKE $3`, w.start, end, pat).Scan(&db)
		if err != nil {
			return cluster, -1, fmt.Errorf("attribute wal to the database: %w", err)
		}
	}
	return cluster, db, nil
}

// runRow is the newest hub.sync_runs row.
type runRow struct {
	id                                                int64
	status                                            string
	errText                                           string
	seconds                                           float64
	clientsSeen, clientsInserted, clientsUpdated      int64
	channelsSeen, channelsInserted, channelsUpdated   int64
	clientsRemoved, channelsRemoved                   int64
	transitions, apiRequests, apiRetries, apiThrottle int64
}

func lastRun(ctx context.Context, pool *pgxpool.Pool) (runRow, error) {
	var r runRow
	err := pool.QueryRow(ctx, `SELECT id, status, coalesce(error, ''),
			extract(epoch FROM coalesce(finished_at, now()) - started_at)::float8,
			clients_seen, clients_inserted, clients_updated, channels_seen, channels_inserted, channels_updated,
			clients_removed, channels_removed, transitions, api_requests, api_retries, api_throttled
		FROM hub.sync_runs ORDER BY id DESC LIMIT 1`).Scan(&r.id, &r.status, &r.errText, &r.seconds,
		&r.clientsSeen, &r.clientsInserted, &r.clientsUpdated, &r.channelsSeen, &r.channelsInserted, &r.channelsUpdated,
		&r.clientsRemoved, &r.channelsRemoved, &r.transitions, &r.apiRequests, &r.apiRetries, &r.apiThrottle)
	if err != nil {
		return r, fmt.Errorf("read the run's hub.sync_runs row: %w", err)
	}
	return r, nil
}

// historyRows counts the history rows a run wrote.
func historyRows(ctx context.Context, pool *pgxpool.Pool, runID int64) (int64, error) {
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM hub.status_history WHERE sync_run_id = $1`, runID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count history rows: %w", err)
	}
	return n, nil
}

// xidNow returns the current transaction id (64-bit); rows written or locked
// by later transactions carry a newer xmin or xmax.
func xidNow(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var x int64
	if err := pool.QueryRow(ctx, `SELECT txid_current()`).Scan(&x); err != nil {
		return 0, fmt.Errorf("read txid: %w", err)
	}
	return x, nil
}

// touchedSince counts the client and channel row versions written (xmin) or
// locked (xmax: FOR UPDATE, ON CONFLICT DO UPDATE ... WHERE false) by
// transactions after since, i.e. by the run in between.
func touchedSince(ctx context.Context, pool *pgxpool.Pool, since int64) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `WITH now AS (SELECT txid_current() - $1::bigint AS d)
		SELECT (SELECT count(*) FROM hub.clients, now
		        WHERE age(xmin) < now.d OR (xmax <> '0'::xid AND age(xmax) < now.d))
		     + (SELECT count(*) FROM hub.channels, now
		        WHERE age(xmin) < now.d OR (xmax <> '0'::xid AND age(xmax) < now.d))`, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count rows written or locked: %w", err)
	}
	return n, nil
}

// safeName keeps a string fit for a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, strings.ToLower(s))
}
