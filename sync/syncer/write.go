package syncer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hubsync/hubsync/db"
	"github.com/hubsync/hubsync/sync/hubapi"
)

func runID(id int64) pgtype.Int8 { return pgtype.Int8{Int64: id, Valid: id != 0} }

func marshalRows[T any](rows []T) ([]byte, error) {
	b, err := json.Marshal(rows)
	if err != nil {
		return nil, fmt.Errorf("encode %d rows: %w", len(rows), err)
	}
	return b, nil
}

// WriteThroughResult says what writing one client through did.
type WriteThroughResult struct {
	Inserted, Updated bool
	Transitions       int
}

// WriteThrough stores a client the API just returned (the answer to a PATCH,
// say) with its history, outside any sync run: its history rows have no
// sync_run_id. An unchanged client writes nothing.
func WriteThrough(ctx context.Context, pool *pgxpool.Pool, partnerID string, c *hubapi.PartnerClient) (WriteThroughResult, error) {
	var tp timeParser
	rows, err := marshalRows([]clientRow{newClientRow(c, contentHash(c.Raw), &tp)})
	if err != nil {
		return WriteThroughResult{}, err
	}
	res, err := db.New(pool).ClientUpsert(ctx, db.ClientUpsertParams{Rows: rows, PartnerID: partnerID})
	if err != nil {
		return WriteThroughResult{}, fmt.Errorf("write client %s: %w", c.ID, err)
	}
	n := 0
	for _, k := range kindCounts(res.Transitions) {
		n += k
	}
	return WriteThroughResult{Inserted: res.Inserted > 0, Updated: res.Updated > 0, Transitions: n}, nil
}
