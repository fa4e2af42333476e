// Package dbtest gives each test its own fresh, fully migrated Postgres
// database, cloned from a template by pgtestdb so that tests run in parallel.
// It reads the server to use from DATABASE_URL (default: postgres on
// localhost:5432, trust auth). A failed test's database is kept and its URL
// logged, so it can be inspected with psql.
package dbtest

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for pgtestdb
	"github.com/peterldowns/pgtestdb"
	"github.com/peterldowns/pgtestdb/migrators/goosemigrator"

	"github.com/hubsync/hubsync/migrations"
)

// DefaultURL is the server tests use when DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@localhost:5432/postgres?sslmode=disable"

// ServerURL returns the URL of the Postgres server tests run against.
func ServerURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// config turns ServerURL into pgtestdb's settings.
func config(t testing.TB) pgtestdb.Config {
	t.Helper()
	u, err := url.Parse(ServerURL())
	if err != nil {
		t.Fatalf("dbtest: DATABASE_URL is not a URL: %v", err)
	}
	pw, _ := u.User.Password()
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "5432"
	}
	q := u.Query()
	opts := "sslmode=disable"
	if m := q.Get("sslmode"); m != "" {
		opts = "sslmode=" + m
	}
	return pgtestdb.Config{
		DriverName: "pgx",
		Host:       host,
		Port:       port,
		User:       u.User.Username(),
		Password:   pw,
		Database:   strings.TrimPrefix(u.Path, "/"),
		Options:    opts,
		// Tests that kill backends or leave a pool open must not make the
		// clean-up fail.
		ForceTerminateConnections: true,
	}
}

// Migrator is the pgtestdb migrator for hubsync's embedded migrations.
func Migrator() pgtestdb.Migrator {
	return goosemigrator.New(".", goosemigrator.WithFS(migrations.FS))
}

// URL creates a fresh migrated database for t and returns its URL.
func URL(t testing.TB) string {
	t.Helper()
	return pgtestdb.Custom(t, config(t), Migrator()).URL()
}

// EmptyURL creates a fresh database with no migrations applied and returns
// its URL, for tests of the migrations themselves.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return pgtestdb.Custom(t, config(t), pgtestdb.NoopMigrator{}).URL()
}

// New creates a fresh migrated database for t and returns a pool on it, closed
// when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return Pool(t, URL(t))
}

// Pool opens a pool on dbURL, closed when the test ends.
func Pool(t testing.TB, dbURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("dbtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
