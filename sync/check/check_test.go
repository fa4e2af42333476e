package check

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hubsync/hubsync/migrations"
	"github.com/hubsync/hubsync/sync/dbtest"
	"github.com/hubsync/hubsync/sync/fakehub"
)

// Distinctive secrets: no output may contain them.
const (
	testKey      = "key-S3CRET-4711"
	testPassword = "pw-S3CRET-0815"
)

// env is a simulator and a fresh database, and the Config of a check of
// them.
type env struct {
	t   *testing.T
	hub *fakehub.Server
	cfg Config
}

func newEnv(t *testing.T, fc fakehub.Config) *env {
	t.Helper()
	return newEnvDB(t, fc, dbtest.URL(t))
}

func newEnvDB(t *testing.T, fc fakehub.Config, dbURL string) *env {
	t.Helper()
	if fc.Seed == 0 {
		fc.Seed = 16
	}
	if fc.Clients == 0 {
		fc.Clients = 12
	}
	fc.APIKey = testKey
	hub, err := fakehub.New(fc)
	if err != nil {
		t.Fatalf("fakehub.New: %v", err)
	}
	ts := httptest.NewServer(hub)
	t.Cleanup(ts.Close)
	return &env{t: t, hub: hub, cfg: Config{
		DatabaseURL: withPassword(t, dbURL, testPassword),
		BaseURL:     ts.URL, PartnerID: hub.Config().PartnerID, APIKey: testKey,
		PageSize: 5, Concurrency: 4, RateLimit: 1000, Schedule: "*/15 * * * *",
		Pages: 10, Sample: 20,
		HTTPClient: ts.Client(),
	}}
}

// withPassword adds a password to a database URL; the test server trusts
// every connection, so it is accepted and ignored.
func withPassword(t *testing.T, dbURL, pw string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String()
}

// run checks and returns the report and both renderings, after making sure
// that neither rendering holds a secret.
func (e *env) run() (*Report, string, map[string]any) {
	e.t.Helper()
	r := Run(e.t.Context(), e.cfg)
	var text, js bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		e.t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		e.t.Fatal(err)
	}
	for _, out := range []string{text.String(), js.String()} {
		for _, secret := range []string{testKey, testPassword} {
			if strings.Contains(out, secret) {
				e.t.Errorf("the report holds the secret %q:\n%s", secret, out)
			}
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		e.t.Fatalf("the JSON report does not parse: %v\n%s", err, js.String())
	}
	if doc["version"] != float64(ReportVersion) {
		e.t.Errorf("JSON version = %v, want %d", doc["version"], ReportVersion)
	}
	if e.t.Failed() || testing.Verbose() {
		e.t.Logf("report:\n%s", text.String())
	}
	return r, text.String(), doc
}

func wantExit(t *testing.T, r *Report, text string, code int, verdict Status) {
	t.Helper()
	if r.ExitCode != code || r.Verdict != verdict {
		t.Fatalf("exit %d verdict %s, want exit %d verdict %s; report:\n%s", r.ExitCode, r.Verdict, code, verdict, text)
	}
}

func hasFinding(s Step, status Status, substr string) bool {
	for _, f := range s.Findings {
		if f.Status == status && (strings.Contains(f.Message, substr) || strings.Contains(f.Advice, substr)) {
			return true
		}
	}
	return false
}

func findIssue(is []Issue, entity, field string) *Issue {
	for i := range is {
		if is[i].Entity == entity && is[i].Field == field {
			return &is[i]
		}
	}
	return nil
}

// TestCheckNormal: against a well-behaved simulator and a current database
// the check passes, reads the whole listing, and leaves the database and
// the simulator as they were.
func TestCheckNormal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakehub.Config{Clients: 12})
	pool := dbtest.Pool(t, e.cfg.DatabaseURL)
	before := dbState(t, pool)

	r, text, doc := e.run()
	wantExit(t, r, text, 0, StatusOK)
	l := r.Listing
	if !l.Complete || l.Clients != 12 || l.DistinctSeen != 12 || !l.TotalPresent || l.ClampedTo != nil || !l.SortHonoured {
		t.Errorf("listing = %+v, want complete, 12 clients, total present, not clamped, sorted", l)
	}
	// 12 clients in pages of 5 overlapping by one: offsets 0, 4, 8.
	if l.PagesRead != 3 || l.OverlapsOK != 2 || l.OverlapsBroken != 0 {
		t.Errorf("pages read %d, overlaps ok %d broken %d; want 3, 2, 0", l.PagesRead, l.OverlapsOK, l.OverlapsBroken)
	}
	if r.SharedNumbers.ClientsSampled != 12 || len(r.SharedNumbers.Failures) != 0 {
		t.Errorf("shared numbers: %d clients sampled, failures %v; want 12, none", r.SharedNumbers.ClientsSampled, r.SharedNumbers.Failures)
	}
	_, channels := e.hub.Counts()
	if r.SharedNumbers.Channels != channels {
		t.Errorf("shared numbers: %d channels, want the simulator's %d", r.SharedNumbers.Channels, channels)
	}
	c := r.Conformance
	if c.Answers != 3+12 || len(c.Undocumented)+len(c.Nulls)+len(c.Enums)+len(c.WrongTypes)+len(c.Other)+len(c.BadRecords) != 0 {
		t.Errorf("conformance: %d answers (want 15), issues %+v", c.Answers, c)
	}
	if len(c.Timestamps) == 0 {
		t.Error("no timestamp format reported")
	}
	if r.Database.Migrations != "current" || r.Database.DatabaseVersion != r.Database.BinaryVersion || len(r.Database.MissingPrivileges) != 0 {
		t.Errorf("database = %+v, want current migrations and every privilege", r.Database)
	}
	if r.Settings.Credential != "api_key" || r.Pace.Estimate == nil || r.Pace.Estimate.Requests != 12+3 {
		t.Errorf("credential %q, estimate %+v; want api_key and 15 requests", r.Settings.Credential, r.Pace.Estimate)
	}
	for _, k := range []string{"settings", "database", "api", "listing", "shared_numbers", "conformance", "pace"} {
		if s, _ := doc[k].(map[string]any); s == nil || s["status"] != "ok" {
			t.Errorf("JSON %s = %v, want an object with status ok", k, doc[k])
		}
	}

	// Read-only: no PATCH, nothing written.
	st := e.hub.Stats()
	if n := st.ByEndpoint[fakehub.EndpointUpdateClient].Requests; n != 0 {
		t.Errorf("the simulator received %d PATCH requests, want 0", n)
	}
	if after := dbState(t, pool); after != before {
		t.Errorf("database changed: before %+v, after %+v", before, after)
	}
}

// state is what a check must not change.
type state struct{ clients, channels, history, runs, migrations int }

func dbState(t *testing.T, pool *pgxpool.Pool) state {
	t.Helper()
	var s state
	err := pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM hub.clients), (SELECT count(*) FROM hub.channels),
		(SELECT count(*) FROM hub.status_history), (SELECT count(*) FROM hub.sync_runs),
		(SELECT count(*) FROM goose_db_version)`).Scan(&s.clients, &s.channels, &s.history, &s.runs, &s.migrations)
	if err != nil {
		t.Fatalf("read the database state: %v", err)
	}
	return s
}

// TestCheckDrift: each kind of drift from the document is reported with a
// count and an example id, as a warning: a sync would store it.
func TestCheckDrift(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakehub.Config{Clients: 12, ChannelsPerClient: 3})
	ids := e.hub.ClientIDs()
	renamed := ids[3]
	if err := e.hub.DeleteClientField(renamed, "name"); err != nil {
		t.Fatal(err)
	}
	if err := e.hub.SetClientField(renamed, "display_name", "Renamed GmbH"); err != nil {
		t.Fatal(err)
	}
	var channel string
	for _, id := range ids {
		if chs := e.hub.ChannelIDs(id); len(chs) > 0 {
			channel = chs[0]
			break
		}
	}
	if channel == "" {
		t.Fatal("no client with a channel")
	}
	if err := e.hub.SetChannelField(channel, "status", "paused"); err != nil {
		t.Fatal(err)
	}
	if err := e.hub.SetChannelField(channel, "is_oba", "yes"); err != nil {
		t.Fatal(err)
	}
	if err := e.hub.SetClientField(ids[5], "max_channels", nil); err != nil {
		t.Fatal(err)
	}

	r, text, _ := e.run()
	wantExit(t, r, text, 0, StatusWarning)
	c := r.Conformance
	if is := findIssue(c.Undocumented, "client", "display_name"); is == nil || is.Count != 1 || is.ExampleID != renamed {
		t.Errorf("undocumented fields = %+v, want client display_name ×1 with example %s", c.Undocumented, renamed)
	}
	if is := findIssue(c.Enums, "channel", "status"); is == nil || is.Value != "paused" || is.Count != 1 || is.ExampleID != channel {
		t.Errorf("enum values = %+v, want channel status \"paused\" ×1 with example %s", c.Enums, channel)
	}
	if is := findIssue(c.WrongTypes, "channel", "is_oba"); is == nil || is.ExampleID != channel || !strings.Contains(is.Detail, "boolean") {
		t.Errorf("wrong types = %+v, want channel is_oba (want boolean) with example %s", c.WrongTypes, channel)
	}
	if is := findIssue(c.Nulls, "client", "max_channels"); is == nil || is.ExampleID != ids[5] {
		t.Errorf("nulls = %+v, want client max_channels with example %s", c.Nulls, ids[5])
	}
	if len(c.BadRecords) != 0 {
		t.Errorf("bad records = %+v, want none (every drift here is stored)", c.BadRecords)
	}
	for _, want := range []string{"display_name", `"paused"`, "is_oba", "max_channels"} {
		if !strings.Contains(text, want) {
			t.Errorf("the text report does not mention %s", want)
		}
	}
}

// TestCheckBadRecords: records a sync would skip are reported with why; a
// client without a usable id fails the check, as no sync could then prove
// its listing complete.
func TestCheckBadRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakehub.Config{Clients: 12})
	ids := e.hub.ClientIDs()
	if err := e.hub.SetClientField(ids[1], "status", nil); err != nil {
		t.Fatal(err)
	}
	r, text, _ := e.run()
	wantExit(t, r, text, 0, StatusWarning)
	if len(r.Conformance.BadRecords) != 1 || r.Conformance.BadRecords[0].Detail != "status is null" || r.Conformance.BadRecords[0].ExampleID != ids[1] {
		t.Errorf("bad records = %+v, want one client, status is null, example %s", r.Conformance.BadRecords, ids[1])
	}

	if err := e.hub.SetRawClient(ids[7], []byte(`{"name":"no id","status":"active"}`)); err != nil {
		t.Fatal(err)
	}
	r, text, _ = e.run()
	wantExit(t, r, text, 1, StatusFailed)
	if r.Conformance.Status != StatusFailed || !hasFinding(r.Conformance.Step, StatusFailed, "without a usable id") {
		t.Errorf("conformance = %+v, want a failure for the client without an id", r.Conformance.Step)
	}
}

func TestBadRecordRule(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 257)
	cases := []struct {
		json, want string
	}{
		{`{"id":"a","status":"ready"}`, ""},
		{`{"id":"a","status":"a brand new status","extra":[1]}`, ""},
		{`{"id":"` + strings.Repeat("x", 256) + `","status":"ready"}`, ""},
		{`[1]`, "not a JSON object"},
		{`"a"`, "not a JSON object"},
		{`{"status":"ready"}`, "no id"},
		{`{"id":null,"status":"ready"}`, "id is null"},
		{`{"id":7,"status":"ready"}`, "id is not a string"},
		{`{"id":"","status":"ready"}`, "empty id"},
		{`{"id":"` + long + `","status":"ready"}`, "id longer than 256 bytes"},
		{`{"id":"a"}`, "no status"},
		{`{"id":"a","status":null}`, "status is null"},
		{`{"id":"a","status":{"v":1}}`, "status is not a string"},
		{`{"id":"a","status":"` + long + `"}`, "status longer than 256 bytes"},
	}
	for _, tc := range cases {
		var v any
		if err := json.Unmarshal([]byte(tc.json), &v); err != nil {
			t.Fatal(err)
		}
		if got := badRecord(v); got != tc.want {
			t.Errorf("badRecord(%.60s) = %q, want %q", tc.json, got, tc.want)
		}
	}
}

// TestCheckClampedLimit: a server that clamps limit below the page size is
// paged correctly, and the advice names the size to set.
func TestCheckClampedLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakehub.Config{Clients: 12, MaxLimit: 3})
	r, text, _ := e.run()
	wantExit(t, r, text, 0, StatusWarning)
	l := r.Listing
	if l.ClampedTo == nil || *l.ClampedTo != 3 {
		t.Fatalf("clamped to %v, want 3", l.ClampedTo)
	}
	if !hasFinding(l.Step, StatusWarning, "set HUBSYNC_PAGE_SIZE to 3: the API clamps limit to 3") {
		t.Errorf("listing findings %+v lack the advice to set HUBSYNC_PAGE_SIZE to 3", l.Findings)
	}
	// Pages of 3 overlapping by one: offsets 0, 2, 4, ... 10 reach 12.
	if !l.Complete || l.DistinctSeen != 12 || l.OverlapsBroken != 0 {
		t.Errorf("listing = %+v, want the whole listing, 12 distinct ids, no broken overlap", l)
	}
	if e := r.Pace.Estimate; e == nil || e.Pages != 6 {
		t.Errorf("estimate %+v, want 6 pages (of 3, overlapping by one) for 12 clients", e)
	}
}

// TestCheckNoTotal: a listing without total is a warning; the listing is
// still read to its end the way a sync proves it complete.
func TestCheckNoTotal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakehub.Config{Clients: 12})
	e.hub.SetFault(withoutTotal(e.hub))
	r, text, _ := e.run()
	wantExit(t, r, text, 0, StatusWarning)
	l := r.Listing
	if l.TotalPresent || l.Total != nil {
		t.Errorf("total present %v (%v), want absent", l.TotalPresent, l.Total)
	}
	if !hasFinding(l.Step, StatusWarning, "no total") {
		t.Errorf("listing findings %+v lack the warning about total", l.Findings)
	}
	if !l.Complete || l.Clients != 12 || l.ClientsAtLeast {
		t.Errorf("listing = %+v, want complete with 12 clients counted", l)
	}
}

// withoutTotal is a fault that serves every list answer without total.
func withoutTotal(hub *fakehub.Server) fakehub.Fault {
	const inner = "X-Check-Test-Inner"
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/clients") || r.Header.Get(inner) != "" {
			return false
		}
		r2 := r.Clone(r.Context())
		r2.Header.Set(inner, "1")
		rr := httptest.NewRecorder()
		hub.ServeHTTP(rr, r2)
		var page map[string]any
		if err := json.Unmarshal(rr.Body.Bytes(), &page); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		delete(page, "total")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rr.Code)
		_ = json.NewEncoder(w).Encode(page)
		return true
	}
}

// TestCheckUnauthorized: a wrong key fails the check with the reason, and
// the key is not printed.
func TestCheckUnauthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakehub.Config{})
	e.cfg.APIKey = testKey + "-wrong"
	r, text, doc := e.run()
	if strings.Contains(text, e.cfg.APIKey) {
		t.Errorf("the report holds the wrong key")
	}
	wantExit(t, r, text, 1, StatusFailed)
	if r.API.Authenticated || r.API.HTTPStatus != 401 || !hasFinding(r.API.Step, StatusFailed, "did not accept the API key") {
		t.Errorf("api = %+v, want a 401 explained as a key not accepted", r.API)
	}
	if r.Listing.Status != StatusSkipped || r.Conformance.Status != StatusSkipped {
		t.Errorf("listing %s, conformance %s; want both skipped", r.Listing.Status, r.Conformance.Status)
	}
	if api, _ := doc["api"].(map[string]any); api["status"] != "failed" || doc["exit_code"] != float64(1) {
		t.Errorf("JSON api = %v, exit_code %v; want failed and 1", doc["api"], doc["exit_code"])
	}
}

// TestCheckPendingMigrations: a database behind this binary fails the
// check with the advice to migrate; one without any migration is not
// given goose's version table by the check.
func TestCheckPendingMigrations(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	pool := dbtest.Pool(t, dbURL)
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { db.Close() })
	p, err := migrations.NewProvider(db)
	if err != nil {
		t.Fatal(err)
	}
	// One migration back (to none when the binary has only one).
	var older int64
	if srcs := p.ListSources(); len(srcs) >= 2 {
		older = srcs[len(srcs)-2].Version
	}
	if _, err := p.DownTo(t.Context(), older); err != nil {
		t.Fatalf("migrate down to %d: %v", older, err)
	}
	e := newEnvDB(t, fakehub.Config{}, dbURL)
	r, text, _ := e.run()
	wantExit(t, r, text, 1, StatusFailed)
	d := r.Database
	if d.Migrations != "pending" || d.DatabaseVersion != older || !hasFinding(d.Step, StatusFailed, "run hubsync migrate up") {
		t.Errorf("database = %+v, want pending at %d with the advice to migrate up", d, older)
	}
	if r.API.Status != StatusOK || r.Listing.Status != StatusOK {
		t.Errorf("api %s, listing %s; want both ok (the API is checked all the same)", r.API.Status, r.Listing.Status)
	}

	empty := dbtest.EmptyURL(t)
	e = newEnvDB(t, fakehub.Config{}, empty)
	r, text, _ = e.run()
	wantExit(t, r, text, 1, StatusFailed)
	if r.Database.Migrations != "pending" || !hasFinding(r.Database.Step, StatusFailed, "run hubsync migrate up") {
		t.Errorf("database = %+v, want pending with the advice to migrate up", r.Database)
	}
	var exists bool
	if err := dbtest.Pool(t, empty).QueryRow(t.Context(), "SELECT to_regclass('goose_db_version') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("the check created goose's version table in an empty database")
	}
}

// TestCheckMigrationsAhead: a database migrated by a newer hubsync fails
// the check.
func TestCheckMigrationsAhead(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	if _, err := dbtest.Pool(t, dbURL).Exec(t.Context(),
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, true)`); err != nil {
		t.Fatal(err)
	}
	e := newEnvDB(t, fakehub.Config{}, dbURL)
	r, text, _ := e.run()
	wantExit(t, r, text, 1, StatusFailed)
	if d := r.Database; d.Migrations != "ahead" || d.DatabaseVersion != 99 || !hasFinding(d.Step, StatusFailed, "ahead of this binary") {
		t.Errorf("database = %+v, want ahead at 99", d)
	}
}

// TestCheckAuthExplained: a token the API refuses and a partner it does not
// know are each explained.
func TestCheckAuthExplained(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakehub.Config{Token: "tok-S3CRET-1"})
	e.cfg.APIKey, e.cfg.Token = "", "tok-S3CRET-expired"
	r, text, _ := e.run()
	wantExit(t, r, text, 1, StatusFailed)
	if strings.Contains(text, "tok-S3CRET-expired") {
		t.Error("the report holds the token")
	}
	if r.Settings.Credential != "bearer_token" || r.API.HTTPStatus != 401 || !hasFinding(r.API.Step, StatusFailed, "may have expired") {
		t.Errorf("credential %q, api %+v; want bearer_token and a 401 explained as an expired token", r.Settings.Credential, r.API)
	}

	e.cfg.Token = "tok-S3CRET-1"
	r, text, _ = e.run()
	wantExit(t, r, text, 0, StatusOK)

	e.cfg.PartnerID = "another-partner"
	r, text, _ = e.run()
	wantExit(t, r, text, 1, StatusFailed)
	if r.API.HTTPStatus != 404 || !hasFinding(r.API.Step, StatusFailed, "HUB_PARTNER_ID") {
		t.Errorf("api = %+v, want a 404 explained with advice on HUB_PARTNER_ID", r.API)
	}
}

// TestCheckEstimateLongerThanSchedule: at a low rate limit a full sync
// takes longer than the schedule's interval: a warning, not a failure.
func TestCheckEstimateLongerThanSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakehub.Config{Clients: 30})
	e.cfg.Schedule = "@every 1s"
	e.cfg.RateLimit = 20
	e.cfg.Concurrency = 64 // so that the rate limit, not the latency, bounds the estimate
	e.cfg.PageSize = 100
	e.cfg.Sample = 5
	r, text, _ := e.run()
	wantExit(t, r, text, 0, StatusWarning)
	est := r.Pace.Estimate
	// 30 clients + 1 page = 31 requests at 20/s: 1.6 s, against 1 s.
	if est == nil || est.Requests != 31 || est.LimitedBy != "rate_limit" || est.Seconds != 1.6 || est.ScheduleSeconds != 1 || !est.LongerThanSchedule {
		t.Fatalf("estimate = %+v, want 31 requests limited by the rate limit, 1.6 s, longer than the 1 s schedule", est)
	}
	if !hasFinding(r.Pace.Step, StatusWarning, "longer than the schedule") {
		t.Errorf("pace findings %+v lack the warning", r.Pace.Findings)
	}
}

// TestCheckUnreachable: an API and a database that do not answer each fail
// the check with the advice to check their settings.
func TestCheckUnreachable(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.NotFoundHandler())
	closed := ts.URL
	ts.Close()
	cfg := Config{
		DatabaseURL: "postgres://postgres:" + testPassword + "@" + strings.TrimPrefix(closed, "http://") + "/postgres?sslmode=disable&connect_timeout=5",
		BaseURL:     closed, PartnerID: "p", APIKey: testKey,
		PageSize: 10, Concurrency: 2, RateLimit: 100, Schedule: "*/15 * * * *",
		MaxElapsed: 300 * time.Millisecond,
	}
	e := &env{t: t, cfg: cfg}
	r, text, _ := e.run()
	wantExit(t, r, text, 1, StatusFailed)
	if r.API.Reachable || !hasFinding(r.API.Step, StatusFailed, "check HUB_API_URL") {
		t.Errorf("api = %+v, want unreachable with the advice to check HUB_API_URL", r.API)
	}
	if r.Database.Reachable || !hasFinding(r.Database.Step, StatusFailed, "DATABASE_URL") {
		t.Errorf("database = %+v, want unreachable with the advice to check DATABASE_URL", r.Database)
	}
}

// TestCheckHostile: against the simulator's hostile mode (U+0000, lone
// surrogates, invalid UTF-8, megabyte strings, deep nesting, huge integers,
// duplicate keys, wrong types, answers without total) the check reports the
// drift as warnings and still finds that a sync would work: each of those
// records would be stored, none counted as bad.
func TestCheckHostile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakehub.Config{Clients: 40, Hostile: true, Seed: 3})
	r, text, _ := e.run()
	wantExit(t, r, text, 0, StatusWarning)
	c := r.Conformance
	if len(c.WrongTypes) == 0 {
		t.Errorf("conformance: no wrong types reported against the hostile simulator\n%s", text)
	}
	if len(c.BadRecords) != 0 {
		t.Errorf("conformance: bad records %+v; the hostile mode keeps every id and status usable", c.BadRecords)
	}
	if !r.Listing.Complete || r.Listing.Clients != 40 {
		t.Errorf("listing = %+v, want all 40 clients read", r.Listing)
	}
}
