// Package migrations holds hubsync's goose SQL migrations, embedded in the
// binary so that `hubsync migrate` and `hubsync serve` need no files on disk.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// FS holds every *.sql migration, named NNNNN_description.sql.
//
//go:embed *.sql
var FS embed.FS

// NewProvider returns a goose provider for these migrations on db. It takes a
// Postgres session lock while it migrates, so processes starting together
// (several replicas of `hubsync serve`, say) migrate one at a time.
func NewProvider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, FS, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return p, nil
}

// CheckNotAhead fails when the database holds a migration version this
// binary does not know: it was migrated by a newer hubsync, or by a
// pre-release build whose migrations were squashed into 00001 (see the
// README). Applying nothing and syncing into a schema of another shape
// would fail later and less clearly.
func CheckNotAhead(ctx context.Context, p *goose.Provider) error {
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read migration version: %w", err)
	}
	srcs := p.ListSources()
	if latest := srcs[len(srcs)-1].Version; current > latest {
		return fmt.Errorf("the database is at migration version %d, but this hubsync knows versions up to %d: "+
			"it was migrated by a newer hubsync, or by a pre-release build (see the README, \"Upgrading from a pre-release build\")", current, latest)
	}
	return nil
}
