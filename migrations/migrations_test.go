package migrations_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hubsync/hubsync/migrations"
	"github.com/hubsync/hubsync/sync/dbtest"
)

func openEmpty(t *testing.T) *sql.DB {
	t.Helper()
	pool := dbtest.Pool(t, dbtest.EmptyURL(t))
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrationsUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openEmpty(t)
	p, err := migrations.NewProvider(db)
	if err != nil {
		t.Fatal(err)
	}
	up, err := p.Up(ctx)
	if err != nil {
		t.Fatalf("first up: %v", err)
	}
	if len(up) == 0 {
		t.Fatal("first up applied no migration")
	}
	again, err := p.Up(ctx)
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	if len(again) != 0 {
		t.Fatalf("second up applied %d migrations, want 0", len(again))
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = 'hub'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("schema hub still exists after down to 0")
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up after down: %v", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srcs := p.ListSources()
	if want := srcs[len(srcs)-1].Version; v != want {
		t.Fatalf("version after up/down/up = %d, want %d", v, want)
	}
}

func TestMigrationsConcurrentUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openEmpty(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := migrations.NewProvider(db)
			if err == nil {
				_, err = p.Up(ctx)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
}

// TestEverythingHasAComment is what lets analysts read the schema in a BI tool.
func TestEverythingHasAComment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	rows, err := pool.Query(ctx, `
		SELECT c.relname, NULL::text
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'hub' AND c.relkind IN ('r', 'v', 'm', 'p')
		  AND obj_description(c.oid, 'pg_class') IS NULL
		UNION ALL
		SELECT c.relname, a.attname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = 'hub' AND c.relkind IN ('r', 'v', 'm', 'p')
		  AND col_description(c.oid, a.attnum) IS NULL
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for rows.Next() {
		var rel string
		var col *string
		if err := rows.Scan(&rel, &col); err != nil {
			t.Fatal(err)
		}
		if col == nil {
			missing = append(missing, "hub."+rel)
		} else {
			missing = append(missing, "hub."+rel+"."+*col)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("%d objects in schema hub have no COMMENT:\n%s", len(missing), strings.Join(missing, "\n"))
	}
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'hub'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables < 4 {
		t.Fatalf("schema hub has %d tables, want at least 4", tables)
	}
}

// TestDatabaseAheadIsRefused: a database migrated by a pre-release build
// (versions since squashed into 00001) or a newer hubsync is refused with
// advice, rather than synced into a schema of another shape.
func TestDatabaseAheadIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openEmpty(t)
	p, err := migrations.NewProvider(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations.CheckNotAhead(ctx, p); err != nil {
		t.Fatalf("an empty database: %v, want no error", err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if err := migrations.CheckNotAhead(ctx, p); err != nil {
		t.Fatalf("a current database: %v, want no error", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (5, true)`); err != nil {
		t.Fatal(err)
	}
	err = migrations.CheckNotAhead(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "pre-release") {
		t.Fatalf("a database at version 5: %v, want an error naming the pre-release builds", err)
	}
}
