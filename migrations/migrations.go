// Package migrations holds hubsync's goose SQL migrations, embedded in the
// binary so that `hubsync migrate` and `hubsync serve` need no files on disk.
package migrations

import (
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
