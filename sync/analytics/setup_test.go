package analytics_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hubsync/hubsync/sync/analytics"
	"github.com/hubsync/hubsync/sync/dbtest"
)

const partner = "p1"

// fixture is a fresh migrated database and a fixed "now" that factory rows
// are placed relative to.
type fixture struct {
	t    *testing.T
	ctx  context.Context
	url  string
	pool *pgxpool.Pool
	now  time.Time
}

// setup gives the test its own database. Its pool reads timestamps in UTC, so
// that rows compare as Postgres prints them.
func setup(t *testing.T) *fixture {
	t.Helper()
	url := dbtest.URL(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &fixture{
		t:    t,
		ctx:  context.Background(),
		url:  url,
		pool: pool,
		now:  time.Now().UTC().Truncate(time.Microsecond),
	}
}

// ago is the time d before the fixture's now.
func (f *fixture) ago(d time.Duration) time.Time { return f.now.Add(-d) }

const (
	hour = time.Hour
	day  = 24 * time.Hour
)

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatalf("seed: %v\n%s", err, sql)
	}
}

// client is a factory row for hub.clients; zero fields get defaults.
type client struct {
	ID          string
	Name        string // default "Client <ID>"
	Status      string // default "active"
	Email       string // default "<ID>@example.com"
	MaxChannels int64  // 0 = NULL
	UpdatedAt   time.Time
	RemovedAt   time.Time // zero = live
}

func (f *fixture) client(c client) {
	f.t.Helper()
	if c.Name == "" {
		c.Name = "Client " + c.ID
	}
	if c.Status == "" {
		c.Status = "active"
	}
	if c.Email == "" {
		c.Email = c.ID + "@example.com"
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = f.ago(30 * day)
	}
	f.exec(`
		INSERT INTO hub.clients (partner_id, id, name, status, contact_email, contact_user_name, max_channels,
		    raw, content_hash, first_seen_at, updated_at, removed_at)
		VALUES ($1, $2, $3, $4, $5, 'Person ' || $2, nullif($6, 0), '{}'::jsonb, '\x00'::bytea, $7::timestamptz - interval '1 day', $7, $8)`,
		partner, c.ID, c.Name, c.Status, c.Email, c.MaxChannels, c.UpdatedAt, nullTime(c.RemovedAt))
}

// channel is a factory row for hub.channels. Its status, first_seen_at,
// updated_at and removed_at follow from the status steps given to
// (*fixture).channel.
type channel struct {
	ID           string
	ClientID     string
	Availability string // "" = NULL
	Quality      string // "" = NULL
	UpdatedAt    time.Time
}

// step is one observed status of a channel; Status "" is a removal.
type step struct {
	At     time.Time
	Status string
}

// channel inserts the channel and its status history as a sync would have
// written it: the first step and a return after removal from NULL, a removal
// to NULL, each change from the previous status.
func (f *fixture) channel(c channel, steps ...step) {
	f.t.Helper()
	if len(steps) == 0 {
		f.t.Fatal("channel factory needs at least one step")
	}
	var prev *string
	var status string
	var removedAt time.Time
	for _, s := range steps {
		to := &s.Status
		if s.Status == "" {
			to = nil
			removedAt = s.At
		} else {
			status, removedAt = s.Status, time.Time{}
		}
		f.history(history{Entity: "channel", EntityID: c.ID, ClientID: c.ClientID, Attribute: "status",
			From: prev, To: to, At: s.At})
		prev = to
	}
	last := steps[len(steps)-1].At
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = last
	}
	f.exec(`
		INSERT INTO hub.channels (partner_id, id, client_id, status, availability_status, current_quality_rating,
		    current_limit, phone_number, raw, content_hash, first_seen_at, updated_at, removed_at)
		VALUES ($1, $2, $3, $4, nullif($5, ''), nullif($6, ''), 'TIER_1K', '+49 ' || $2, '{}'::jsonb, '\x00'::bytea, $7, $8, $9)`,
		partner, c.ID, c.ClientID, status, c.Availability, c.Quality, steps[0].At, c.UpdatedAt, nullTime(removedAt))
}

// history is a factory row for hub.status_history.
type history struct {
	Entity    string // default "channel"
	EntityID  string
	ClientID  string
	Attribute string
	From, To  *string
	At        time.Time
}

func (f *fixture) history(h history) {
	f.t.Helper()
	if h.Entity == "" {
		h.Entity = "channel"
	}
	f.exec(`
		INSERT INTO hub.status_history (partner_id, entity, entity_id, client_id, attribute, from_value, to_value, changed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		partner, h.Entity, h.EntityID, h.ClientID, h.Attribute, h.From, h.To, h.At)
}

// change is a history row of a channel attribute from one value to another;
// "" is NULL.
func (f *fixture) change(channelID, clientID, attribute, from, to string, at time.Time) {
	f.t.Helper()
	f.history(history{EntityID: channelID, ClientID: clientID, Attribute: attribute,
		From: nullString(from), To: nullString(to), At: at})
}

// run is a factory row for hub.sync_runs.
type run struct {
	StartedAt  time.Time
	Took       time.Duration // 0 = still running (finished_at NULL)
	Status     string
	Unknown    string // unknown_value_list as JSON; default {}
	Error      string
	Complete   bool
	Requests   int
	Retries    int
	Clients    int
	Channels   int
	Transition int
}

func (f *fixture) run(r run) {
	f.t.Helper()
	if r.Unknown == "" {
		r.Unknown = "{}"
	}
	var finished any
	if r.Took > 0 {
		finished = r.StartedAt.Add(r.Took)
	}
	f.exec(`
		INSERT INTO hub.sync_runs (partner_id, started_at, finished_at, heartbeat_at, status, complete,
		    clients_seen, channels_seen, transitions, api_requests, api_retries, unknown_value_list, error)
		VALUES ($1, $2, $3, $2, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, nullif($12, ''))`,
		partner, r.StartedAt, finished, r.Status, r.Complete, r.Clients, r.Channels, r.Transition,
		r.Requests, r.Retries, r.Unknown, r.Error)
}

// rows runs sql and returns its rows as Postgres prints them (text format,
// timestamps in UTC), NULL as "NULL".
func (f *fixture) rows(sql string) [][]string {
	f.t.Helper()
	rows, err := f.pool.Query(f.ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		f.t.Fatalf("query: %v\n%s", err, sql)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		var row []string
		for _, v := range rows.RawValues() {
			if v == nil {
				row = append(row, "NULL")
			} else {
				row = append(row, string(v))
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatalf("query: %v\n%s", err, sql)
	}
	return out
}

// checkRows fails the test unless got equals want, showing both.
func checkRows(t *testing.T, what string, got, want [][]string) {
	t.Helper()
	if format(got) != format(want) {
		t.Errorf("%s: rows differ\nexpected:\n%s\ngot:\n%s", what, format(want), format(got))
	}
}

func format(rows [][]string) string {
	if len(rows) == 0 {
		return "  (no rows)\n"
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s\n", strings.Join(r, " | "))
	}
	return b.String()
}

// ts prints t as Postgres prints a timestamptz in UTC.
func ts(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.999999-07")
}

func date(t time.Time) string { return t.UTC().Format("2006-01-02") }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// readme returns the example queries of the repository's README.
func readme(t *testing.T) []analytics.ExampleQuery {
	t.Helper()
	text, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	qs, err := analytics.ExampleQueries(string(text))
	if err != nil {
		t.Fatal(err)
	}
	return qs
}
