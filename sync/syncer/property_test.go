package syncer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
	"pgregory.net/rapid"

	"github.com/hubsync/hubsync/sync/dbtest"
	"github.com/hubsync/hubsync/sync/fakehub"
	"github.com/hubsync/hubsync/sync/hubapi"
	"github.com/hubsync/hubsync/sync/syncer"
)

// The property test feeds hostile records through the real pipeline
// (simulator → hubapi → syncer → Postgres) and checks what issue 14 asks
// of any input:
//
//   - no run fails because of content: it succeeds, or ends partial only
//     because a record without a usable id makes the listing unprovable;
//   - every record with a usable id and status is stored: a row exists,
//     its typed columns hold what the record says where that is a clean
//     value of the right type and NULL where the type is wrong, and raw
//     (or another column, for what jsonb refuses) keeps the original;
//   - every other record is counted in sync_runs.bad_records;
//   - a second run writes nothing and adds no history.
//
// A record is bad when it is not a JSON object, or its id is absent, not a
// string, empty or longer than 256 bytes, or its status is absent, null,
// not a string or longer than 256 bytes.
//
// Cases come from a corpus (testdata/hostile/*.txt, inputs worth keeping)
// and from rapid's generators. `make test` runs a few generated cases, the
// same every time; `make fuzz` runs many, from a new seed (-rapid.checks). rapid writes a failing case's
// seed under testdata/rapid/ by itself; replay it with -rapid.failfile.

// propertyChecks and propertySeed are the generated cases a plain `go test`
// runs; the -rapid.checks and -rapid.seed flags override them.
const (
	propertyChecks = 12
	propertySeed   = 20261203
)

// idPlaceholder stands for a client's id in a scenario's records: the
// simulator decides the ids, and a client must be served under its own
// for its shared numbers to be found.
const idPlaceholder = "$ID"

// scenario is what the simulator serves: its clients in listing order,
// each with the records of its shared numbers.
type scenario struct {
	clients []scenarioClient
}

type scenarioClient struct {
	raw      []byte
	channels [][]byte
}

func TestPropertyHostileRecords(t *testing.T) {
	t.Parallel()

	files, err := filepath.Glob(filepath.Join("testdata", "hostile", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no corpus in testdata/hostile")
	}
	t.Run("corpus", func(t *testing.T) {
		for _, f := range files {
			sc, err := readScenario(f)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
				t.Parallel()
				for _, p := range checkScenario(t, sc) {
					t.Error(p)
				}
			})
		}
	})

	t.Run("generated", func(t *testing.T) {
		explicit := false
		flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" || f.Name == "rapid.seed" })
		if !explicit {
			// A plain `go test` (CI) runs the same few cases every time, so
			// that a red run means a regression; `make fuzz` explores.
			_ = flag.Set("rapid.checks", strconv.Itoa(propertyChecks))
			_ = flag.Set("rapid.seed", strconv.Itoa(propertySeed))
		}
		rapid.Check(t, func(rt *rapid.T) {
			sc := drawScenario(rt)
			var problems []string
			// A subtest per case: its database is dropped when the case ends.
			t.Run("case", func(st *testing.T) { problems = checkScenario(st, sc) })
			if len(problems) > 0 {
				rt.Fatalf("%d problems with the scenario below:\n  %s\n\nscenario (corpus format):\n%s",
					len(problems), strings.Join(problems, "\n  "), sc.format())
			}
		})
	})
}

// ---------------------------------------------------------------- running

// checkScenario serves sc from a fresh simulator, syncs it twice into a
// fresh database and returns what broke the properties. t only owns the
// resources: problems are returned, not reported.
func checkScenario(t *testing.T, sc scenario) (problems []string) {
	t.Helper()
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	n := len(sc.clients)
	if n == 0 {
		n = -1 // none
	}
	srv, err := fakehub.New(fakehub.Config{Seed: 5, Clients: n, ChannelsPerClient: -1})
	if err != nil {
		t.Fatal(err)
	}
	ids := srv.ClientIDs()
	for i, c := range sc.clients {
		id := ids[i]
		if err := srv.SetRawClient(id, bytes.ReplaceAll(c.raw, []byte(idPlaceholder), []byte(id))); err != nil {
			t.Fatal(err)
		}
		body := append([]byte{'['}, bytes.Join(c.channels, []byte{','})...)
		body = append(body, ']')
		if err := srv.SetRawSharedNumbers(id, bytes.ReplaceAll(body, []byte(idPlaceholder), []byte(id))); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	logs := &logTail{}
	cfg := srv.Config()
	api, err := hubapi.New(hubapi.Config{
		BaseURL: ts.URL, PartnerID: cfg.PartnerID, APIKey: cfg.APIKey,
		RequestTimeout: 10 * time.Second, MaxElapsed: 3 * time.Second, InitialBackoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	pool := dbtest.New(t)
	sy := syncer.New(syncer.Config{
		Pool: pool, API: api, PartnerID: cfg.PartnerID, PageSize: 3, Concurrency: 2,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	defer func() {
		if len(problems) > 0 {
			problems = append(problems, "sync logs (tail):\n"+logs.String())
		}
	}()

	want := expect(sc, ids)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first, err := sy.Run(ctx)
	runOK := func(name string, res syncer.Result, err error) bool {
		switch {
		case res.Status == syncer.StatusSucceeded && err == nil:
			return true
		case res.Status == syncer.StatusPartial && err == nil && want.unprovable:
			return true
		case res.Status == syncer.StatusPartial && err == nil:
			bad("%s run ended partial although every record has a usable id: %s", name, res.Error)
		default:
			bad("%s run ended %s (err %v): %s; want succeeded", name, res.Status, err, res.Error)
		}
		return false
	}
	if !runOK("first", first, err) {
		return problems
	}
	if first.ClientsRemoved+first.ChannelsRemoved != 0 {
		bad("first run removed %d clients and %d channels", first.ClientsRemoved, first.ChannelsRemoved)
	}
	problems = append(problems, checkStored(ctx, pool, cfg.PartnerID, want)...)
	var badRecords int
	if err := pool.QueryRow(ctx, `SELECT bad_records FROM hub.sync_runs WHERE id = $1`, first.RunID).Scan(&badRecords); err != nil {
		bad("read sync_runs.bad_records: %v", err)
	} else if badRecords != want.bad {
		bad("sync_runs.bad_records = %d, want %d (the records that are not objects or lack a usable id or status)", badRecords, want.bad)
	}
	var history int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM hub.status_history`).Scan(&history); err != nil {
		bad("count history: %v", err)
	}

	second, err := sy.Run(ctx)
	if !runOK("second", second, err) {
		return problems
	}
	if w := second.ClientsInserted + second.ClientsUpdated + second.ChannelsInserted + second.ChannelsUpdated +
		second.ClientsRemoved + second.ChannelsRemoved + second.Transitions; w != 0 {
		bad("second run wrote something: %+v", second.Counts)
	}
	var history2 int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM hub.status_history`).Scan(&history2); err != nil {
		bad("count history: %v", err)
	} else if history2 != history {
		bad("second run added %d history rows, want 0", history2-history)
	}
	return problems
}

// logTail keeps the last lines written to it, each cut to 400 bytes.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		if len(line) > 400 {
			line = line[:400] + "…"
		}
		l.lines = append(l.lines, line)
		if len(l.lines) > 30 {
			l.lines = l.lines[1:]
		}
	}
	return len(p), nil
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// ---------------------------------------------------------------- oracle

// expectation is what the database must hold after a run, derived from the
// records alone (so that corpus files need no annotations).
type expectation struct {
	clients    []storedRecord // usable clients
	channels   map[string]int // usable channels per client id whose own id is usable
	chans      []storedRecord // usable channels with a plain id
	bad        int            // records the rule calls bad, among those fetched
	unprovable bool           // some record has no usable id
}

// storedRecord is one record that must have a row.
type storedRecord struct {
	table    string // "clients" or "channels"
	id       string
	clientID string
	raw      []byte
	obj      map[string]any
	plainID  bool // the id can be looked up as is
}

func expect(sc scenario, ids []string) expectation {
	e := expectation{channels: make(map[string]int)}
	for i, c := range sc.clients {
		id := ids[i]
		raw := bytes.ReplaceAll(c.raw, []byte(idPlaceholder), []byte(id))
		obj, idOK, statusOK := classify(raw)
		if !idOK {
			e.bad++
			e.unprovable = true
			continue // its shared numbers are never asked for
		}
		if statusOK {
			e.clients = append(e.clients, storedRecord{table: "clients", id: id, raw: raw, obj: obj, plainID: true})
		} else {
			e.bad++
		}
		// A client that is bad only for its status still has its channels
		// synced.
		for _, ch := range c.channels {
			raw := bytes.ReplaceAll(ch, []byte(idPlaceholder), []byte(id))
			obj, idOK, statusOK := classify(raw)
			if !idOK {
				e.unprovable = true
			}
			if !idOK || !statusOK {
				e.bad++
				continue
			}
			e.channels[id]++
			chID := obj["id"].(string)
			e.chans = append(e.chans, storedRecord{table: "channels", id: chID, clientID: id, raw: raw, obj: obj, plainID: plain(chID)})
		}
	}
	return e
}

// classify decodes a record as a lenient parser does (the last of
// duplicate keys wins; invalid UTF-8 and lone surrogates become U+FFFD)
// and applies the bad-record rule.
func classify(raw []byte) (obj map[string]any, idOK, statusOK bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, false, false
	}
	id, ok := obj["id"].(string)
	idOK = ok && id != "" && len(id) <= 256
	st, ok := obj["status"].(string)
	statusOK = ok && len(st) <= 256
	return obj, idOK, statusOK
}

// plain reports whether s survived decoding unchanged and Postgres text
// can hold it: no U+0000, and no U+FFFD standing for a broken character.
func plain(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsAny(s, "\x00\ufffd")
}

// column is one typed column and how its expected value follows from the
// record.
type column struct {
	name string
	// want returns the expected value as text ("" with null true for
	// NULL), or ok false when the record leaves it open (a string made
	// safe in some way).
	want func(obj map[string]any) (v string, null, ok bool)
}

var clientColumns = []column{
	{"status", textOf("status")},
	{"name", textOf("name")},
	{"max_channels", int64Of("max_channels")},
	{"contact_email", nestedTextOf("contact_info", "email")},
	{"created_at", timeOf("created_at")},
}

var channelColumns = []column{
	{"status", textOf("status")},
	{"is_oba", boolOf("is_oba")},
	{"phone_name", nestedTextOf("setup_info", "phone_name")},
	{"created_at", timeOf("created_at")},
}

func textValue(v any, present bool) (string, bool, bool) {
	switch s := v.(type) {
	case nil:
		return "", true, true
	case string:
		if plain(s) {
			return s, false, true
		}
		return "", false, false
	}
	return "", true, true // the wrong type
}

func textOf(field string) func(map[string]any) (string, bool, bool) {
	return func(obj map[string]any) (string, bool, bool) { v, ok := obj[field]; return textValue(v, ok) }
}

func nestedTextOf(outer, field string) func(map[string]any) (string, bool, bool) {
	return func(obj map[string]any) (string, bool, bool) {
		m, ok := obj[outer].(map[string]any)
		if !ok {
			return "", true, true
		}
		v, ok := m[field]
		return textValue(v, ok)
	}
}

func int64Of(field string) func(map[string]any) (string, bool, bool) {
	return func(obj map[string]any) (string, bool, bool) {
		n, ok := obj[field].(json.Number)
		if !ok {
			return "", true, true
		}
		i, ok := new(big.Int).SetString(string(n), 10)
		if !ok || !i.IsInt64() {
			return "", true, true // a fraction, an exponent, or beyond int64
		}
		return i.String(), false, true
	}
}

func boolOf(field string) func(map[string]any) (string, bool, bool) {
	return func(obj map[string]any) (string, bool, bool) {
		b, ok := obj[field].(bool)
		if !ok {
			return "", true, true
		}
		return strconv.FormatBool(b), false, true
	}
}

func timeOf(field string) func(map[string]any) (string, bool, bool) {
	return func(obj map[string]any) (string, bool, bool) {
		s, ok := obj[field].(string)
		if !ok {
			return "", true, true
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
			if ts, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
				return ts.UTC().Format("2006-01-02T15:04:05.000000Z"), false, true
			}
		}
		return "", true, true
	}
}

// checkStored compares the database with the expectation.
func checkStored(ctx context.Context, pool *pgxpool.Pool, partner string, e expectation) (problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM hub.clients WHERE partner_id = $1`, partner).Scan(&n); err != nil {
		bad("count clients: %v", err)
	} else if n != len(e.clients) {
		bad("hub.clients has %d rows, want %d (the usable clients)", n, len(e.clients))
	}
	want := 0
	for cid, k := range e.channels {
		want += k
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM hub.channels WHERE partner_id = $1 AND client_id = $2`, partner, cid).Scan(&n); err != nil {
			bad("count channels of %s: %v", cid, err)
		} else if n != k {
			bad("client %s has %d channel rows, want %d (its usable channels)", cid, n, k)
		}
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM hub.channels WHERE partner_id = $1`, partner).Scan(&n); err != nil {
		bad("count channels: %v", err)
	} else if n != want {
		bad("hub.channels has %d rows, want %d (the usable channels)", n, want)
	}
	for _, r := range e.clients {
		problems = append(problems, checkRow(ctx, pool, partner, r, clientColumns)...)
	}
	for _, r := range e.chans {
		if r.plainID {
			problems = append(problems, checkRow(ctx, pool, partner, r, channelColumns)...)
		}
	}
	return problems
}

// checkRow checks one stored record's typed columns and original.
func checkRow(ctx context.Context, pool *pgxpool.Pool, partner string, r storedRecord, cols []column) (problems []string) {
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s %q: ", r.table, truncateID(r.id))+fmt.Sprintf(format, args...))
	}
	// Every column as text (timestamps as RFC 3339 in UTC), in one read.
	var text string
	q := fmt.Sprintf(`SELECT to_jsonb(t)::text FROM (SELECT *, %s FROM hub.%s WHERE partner_id = $1 AND id = $2) t`,
		timeColumnsUTC(cols), r.table)
	if err := pool.QueryRow(ctx, q, partner, r.id).Scan(&text); err != nil {
		bad("no row (%v)", err)
		return problems
	}
	var row map[string]any
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber() // bigint columns beyond 2^53
	if err := dec.Decode(&row); err != nil {
		bad("decode row: %v", err)
		return problems
	}
	for _, c := range cols {
		want, null, ok := c.want(r.obj)
		if !ok {
			continue
		}
		got, present := row[c.name]
		if c.name == "created_at" {
			got = row["created_at_utc"]
		}
		switch {
		case !present:
			bad("no column %s", c.name)
		case null && got != nil:
			bad("%s = %v, want NULL (the record has %s)", c.name, got, short(r.obj, c.name))
		case !null && fmt.Sprint(got) != want:
			bad("%s = %v, want %q", c.name, got, want)
		}
	}
	// The original: raw equals it where jsonb accepts it; otherwise some
	// column keeps it as text, bytes or base64.
	var accepted bool
	if utf8.Valid(r.raw) {
		var ok bool
		if err := pool.QueryRow(ctx, `SELECT $1::jsonb IS NOT NULL`, string(r.raw)).Scan(&ok); err == nil {
			accepted = ok
		}
	}
	if accepted {
		var same bool
		q := fmt.Sprintf(`SELECT raw = $3::jsonb FROM hub.%s WHERE partner_id = $1 AND id = $2`, r.table)
		if err := pool.QueryRow(ctx, q, partner, r.id, string(r.raw)).Scan(&same); err != nil || !same {
			bad("raw differs from the record as received (err %v)", err)
		}
		return problems
	}
	for name, v := range row {
		s, ok := v.(string)
		if !ok || name == "raw" {
			continue
		}
		if s == string(r.raw) || s == `\x`+hex.EncodeToString(r.raw) || s == base64.StdEncoding.EncodeToString(r.raw) {
			return problems
		}
	}
	bad("jsonb refuses the record, and no column keeps the original (as text, bytea or base64)")
	return problems
}

func timeColumnsUTC(cols []column) string {
	for _, c := range cols {
		if c.name == "created_at" {
			return `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at_utc`
		}
	}
	return "1 AS unused"
}

func short(obj map[string]any, field string) string {
	b, _ := json.Marshal(obj[field])
	if len(b) > 60 {
		b = append(b[:60], "…"...)
	}
	return field + " " + string(b)
}

func truncateID(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ---------------------------------------------------------------- corpus

// format writes sc in the corpus format: one record per line, Go-quoted
// (lossless for any bytes), a client line followed by its channel lines.
func (sc scenario) format() string {
	var b strings.Builder
	for _, c := range sc.clients {
		fmt.Fprintf(&b, "client %s\n", quoteShort(c.raw))
		for _, ch := range c.channels {
			fmt.Fprintf(&b, "channel %s\n", quoteShort(ch))
		}
	}
	return b.String()
}

// quoteShort quotes b; a unit of one to four bytes repeated over more
// than 64 bytes is written as repeat(N, "unit"), so that megabyte strings
// stay short lines.
func quoteShort(b []byte) string {
	var parts []string
	start := 0
	for i := 0; i < len(b); {
		unit, n := 0, 0
		for u := 1; u <= 4 && i+u <= len(b); u++ {
			k := 1
			for i+(k+1)*u <= len(b) && bytes.Equal(b[i+k*u:i+(k+1)*u], b[i:i+u]) {
				k++
			}
			if k*u > 64 {
				unit, n = u, k
				break
			}
		}
		if unit == 0 {
			i++
			continue
		}
		if start < i {
			parts = append(parts, strconv.Quote(string(b[start:i])))
		}
		parts = append(parts, fmt.Sprintf("repeat(%d, %s)", n, strconv.Quote(string(b[i:i+unit]))))
		i += n * unit
		start = i
	}
	if start < len(b) || len(parts) == 0 {
		parts = append(parts, strconv.Quote(string(b[start:])))
	}
	return strings.Join(parts, " + ")
}

// unquoteShort reverses quoteShort: Go-quoted strings and
// repeat(N, "unit") terms joined by " + ".
func unquoteShort(s string) ([]byte, error) {
	var out []byte
	for first := true; ; first = false {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			if first {
				return nil, errors.New("no record")
			}
			return out, nil
		}
		if !first {
			rest, ok := strings.CutPrefix(s, "+")
			if !ok {
				return nil, fmt.Errorf("want + before %.30q", s)
			}
			s = strings.TrimLeft(rest, " ")
		}
		n := 1
		if rest, ok := strings.CutPrefix(s, "repeat("); ok {
			num, rest, ok := strings.Cut(rest, ", ")
			k, err := strconv.Atoi(num)
			if !ok || err != nil || k < 0 {
				return nil, fmt.Errorf("bad repeat count in %.30q", s)
			}
			n, s = k, rest
		}
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return nil, fmt.Errorf("bad quoted text at %.30q: %w", s, err)
		}
		u, _ := strconv.Unquote(q)
		s = s[len(q):]
		if n != 1 || strings.HasPrefix(s, ")") {
			rest, ok := strings.CutPrefix(s, ")")
			if !ok {
				return nil, fmt.Errorf("want ) at %.30q", s)
			}
			s = rest
		}
		out = append(out, bytes.Repeat([]byte(u), n)...)
	}
}

// TestCorpusFormat: a scenario printed by a failing property check reads
// back as the same bytes, so that it can be kept in the corpus as is.
func TestCorpusFormat(t *testing.T) {
	t.Parallel()
	cases := [][]byte{
		nil, []byte(`"`), []byte(`" + "`), []byte(`repeat(3, "x")`), []byte("\xff\x00\\"),
		bytes.Repeat([]byte("é\x00"), 100), append(bytes.Repeat([]byte("x"), 65), `" + "`...),
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab\"\\ +()\x00\xffé")
	for range 500 {
		b := make([]byte, r.IntN(300))
		for i := 0; i < len(b); {
			run := 1 + r.IntN(100) // runs, so that repeat() is exercised
			c := alphabet[r.IntN(len(alphabet))]
			for ; run > 0 && i < len(b); run-- {
				b[i] = c
				i++
			}
		}
		cases = append(cases, b)
	}
	for _, b := range cases {
		got, err := unquoteShort(quoteShort(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("quoteShort(%q) = %s reads back as %q (err %v)", b, quoteShort(b), got, err)
		}
	}
}

// readScenario reads a corpus file: lines "client <quoted>" and
// "channel <quoted>" (see format); blank lines and # comments are skipped.
func readScenario(path string) (scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return scenario{}, err
	}
	defer f.Close()
	var sc scenario
	sn := bufio.NewScanner(f)
	sn.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sn.Scan(); line++ {
		text := strings.TrimSpace(sn.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(text, " ")
		rec, err := unquoteShort(rest)
		if err != nil {
			return scenario{}, fmt.Errorf("line %d: %w", line, err)
		}
		switch {
		case kind == "client":
			sc.clients = append(sc.clients, scenarioClient{raw: rec})
		case kind == "channel" && len(sc.clients) > 0:
			last := &sc.clients[len(sc.clients)-1]
			last.channels = append(last.channels, rec)
		default:
			return scenario{}, fmt.Errorf("line %d: want \"client <quoted>\" or \"channel <quoted>\" after a client", line)
		}
	}
	return sc, sn.Err()
}

// ---------------------------------------------------------------- generators

// member is one member of a generated object, as JSON text.
type member struct{ key, value string }

func object(ms []member) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m.key)
		b.WriteByte(':')
		b.WriteString(m.value)
	}
	b.WriteByte('}')
	return b.String()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// hostilePieces are the awkward contents of a JSON string, as JSON text.
var hostilePieces = []string{
	`\u0000`,                   // U+0000
	`\ud83d`,                   // a lone high surrogate
	`\udc00`,                   // a lone low surrogate
	`\ud83dx`,                  // a high surrogate followed by no low one
	`\ud83d\ude00`,             // a proper pair (valid)
	"\xff",                     // not UTF-8
	"\xc3\x28",                 // a broken two-byte sequence
	"\xed\xa0\x80",             // a surrogate encoded as UTF-8
	"\xf0\x9f",                 // a four-byte sequence cut short
	`\u001f\t\"\\\/`,           // escapes
	"😀 émoji 中文 ",              // valid multi-byte text
	`\u2028\u2029\ufeff\ufffe`, // separators, BOM, a noncharacter
}

// genString draws a JSON string (as JSON text): mostly clean, sometimes
// with hostile pieces, now and then very long.
func genString(t *rapid.T, label string) string {
	clean := rapid.StringMatching(`[A-Za-z0-9 .,'&()-]{0,16}`)
	switch rapid.IntRange(0, 9).Draw(t, label+"-kind") {
	case 0, 1, 2, 3, 4:
		return quote(clean.Draw(t, label))
	case 5, 6, 7, 8:
		var b strings.Builder
		b.WriteByte('"')
		for i, n := 0, rapid.IntRange(1, 4).Draw(t, label+"-pieces"); i < n; i++ {
			if rapid.Bool().Draw(t, label+"-hostile") {
				b.WriteString(rapid.SampledFrom(hostilePieces).Draw(t, label+"-piece"))
			} else {
				q := quote(clean.Draw(t, label+"-clean"))
				b.WriteString(q[1 : len(q)-1])
			}
		}
		b.WriteByte('"')
		return b.String()
	default:
		n := rapid.SampledFrom([]int{257, 70_000, 1 << 20}).Draw(t, label+"-len")
		return `"` + strings.Repeat(rapid.SampledFrom([]string{"x", "é", `\u0000`}).Draw(t, label+"-char"), n) + `"`
	}
}

// genNumber draws a JSON number, ordinary or not.
func genNumber(t *rapid.T, label string) string {
	return rapid.OneOf(
		rapid.Map(rapid.IntRange(-5, 1000), strconv.Itoa),
		rapid.SampledFrom([]string{
			"9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
			"100000000000000000000000000000", "1e400", "-0", "1.5", "12.0", "1E2", "0.000001",
		}),
	).Draw(t, label)
}

// genValue draws any JSON value, nested up to depth.
func genValue(t *rapid.T, label string, depth int) string {
	kinds := 6
	if depth <= 0 {
		kinds = 4
	}
	switch rapid.IntRange(0, kinds-1).Draw(t, label+"-type") {
	case 0:
		return rapid.SampledFrom([]string{"null", "true", "false"}).Draw(t, label)
	case 1:
		return genNumber(t, label)
	case 2, 3:
		return genString(t, label)
	case 4:
		var items []string
		for i, n := 0, rapid.IntRange(0, 3).Draw(t, label+"-len"); i < n; i++ {
			items = append(items, genValue(t, label+"-item", depth-1))
		}
		return "[" + strings.Join(items, ",") + "]"
	default:
		var ms []member
		for i, n := 0, rapid.IntRange(0, 3).Draw(t, label+"-len"); i < n; i++ {
			ms = append(ms, member{genString(t, label+"-key"), genValue(t, label+"-value", depth-1)})
		}
		return object(ms)
	}
}

// genDeep wraps a value in a few hundred levels of arrays or objects.
func genDeep(t *rapid.T, label string) string {
	depth := rapid.IntRange(100, 400).Draw(t, label+"-depth")
	open, end := "[", "]"
	if rapid.Bool().Draw(t, label+"-objects") {
		open, end = `{"a":`, "}"
	}
	return strings.Repeat(open, depth) + genValue(t, label, 1) + strings.Repeat(end, depth)
}

// genWrong draws a value of some type, for a field that expects another.
func genWrong(t *rapid.T, label string) string {
	return rapid.SampledFrom([]string{"42", "-1", `"12"`, `"yes"`, "true", "false", `{"a":1}`, "[1,2]", "1717232400", "1.5e3"}).Draw(t, label)
}

// genTyped draws a field's value: usually of its type (from ofType), else
// null, a wrong type, or absent (ok false).
func genTyped(t *rapid.T, label string, ofType func() string) (string, bool) {
	switch rapid.IntRange(0, 9).Draw(t, label+"-shape") {
	case 0:
		return "null", true
	case 1, 2:
		return genWrong(t, label+"-wrong"), true
	case 3:
		return "", false
	}
	return ofType(), true
}

// genStatus draws a status: usable (documented, unknown, or hostile but
// short), or, now and then, one the rule calls bad.
func genStatus(t *rapid.T, label string, known []string) string {
	switch rapid.IntRange(0, 19).Draw(t, label+"-shape") {
	case 0:
		return rapid.SampledFrom([]string{"", "null", "7", "true", `{"a":1}`, `["active"]`}).Draw(t, label+"-bad") // "" means absent
	case 1:
		return quote(strings.Repeat("s", rapid.IntRange(257, 400).Draw(t, label+"-len")))
	case 2:
		return quote(strings.Repeat("s", 256)) // the longest usable status
	case 3:
		return `"new` + rapid.SampledFrom(hostilePieces).Draw(t, label+"-piece") + `status"`
	case 4:
		return quote("brand_new_" + rapid.StringMatching(`[a-z_]{1,12}`).Draw(t, label+"-unknown"))
	case 5:
		return `""` // empty, but a string: usable
	}
	return quote(rapid.SampledFrom(known).Draw(t, label))
}

// genTimestamp draws a timestamp string in one of the API's formats, or
// one no one can parse.
func genTimestamp(t *rapid.T, label string) string {
	ts := time.Unix(rapid.Int64Range(1.5e9, 1.8e9).Draw(t, label+"-unix"), rapid.Int64Range(0, 999_999).Draw(t, label+"-us")*1000).UTC()
	switch rapid.IntRange(0, 4).Draw(t, label+"-layout") {
	case 0:
		return quote(ts.Format("2006-01-02T15:04:05Z"))
	case 1:
		return quote(ts.Format("2006-01-02T15:04:05.000000Z"))
	case 2:
		return quote(ts.In(time.FixedZone("", -5*3600)).Format("2006-01-02T15:04:05.000-07:00"))
	case 3:
		return quote(ts.Format("2006-01-02T15:04:05"))
	}
	return rapid.SampledFrom([]string{`"yesterday"`, `"2024-13-45T99:00:00Z"`, `""`, `"0000-00-00T00:00:00"`}).Draw(t, label+"-garbage")
}

// finish adds unknown fields, deep nesting and duplicate keys to ms, and
// shuffles it. Duplicates repeat a member with its own value, or the name
// with another; never the id or the status with another value (which one
// counts would be a matter of parser).
func finish(t *rapid.T, label string, ms []member) []member {
	for i, n := 0, rapid.IntRange(0, 3).Draw(t, label+"-unknown"); i < n; i++ {
		// The x_ prefix keeps a drawn key from being a documented one.
		key := `"x_` + genString(t, label+"-unknown-key")[1:]
		ms = append(ms, member{key, genValue(t, label+"-unknown-value", 3)})
	}
	if rapid.IntRange(0, 5).Draw(t, label+"-deep") == 0 {
		ms = append(ms, member{`"x_nested"`, genDeep(t, label+"-nested")})
	}
	for i, n := 0, rapid.IntRange(0, 2).Draw(t, label+"-dups"); i < n && len(ms) > 0; i++ {
		m := rapid.SampledFrom(ms).Draw(t, label+"-dup")
		if m.key == `"name"` || m.key == `"phone_name"` {
			m.value = genString(t, label+"-dup-value")
		}
		ms = append(ms, m)
	}
	return rapid.Permutation(ms).Draw(t, label+"-order")
}

// genClient draws a client record (with idPlaceholder as its id when the
// id is usable).
func genClient(t *rapid.T) string {
	if rapid.IntRange(0, 24).Draw(t, "client-not-object") == 0 {
		return rapid.SampledFrom([]string{"null", "42", `"client"`, "[]", `[{"id":"$ID"}]`, "true"}).Draw(t, "client-non-object")
	}
	var ms []member
	switch rapid.IntRange(0, 19).Draw(t, "client-id-shape") {
	case 0:
	case 1:
		ms = append(ms, member{`"id"`, rapid.SampledFrom([]string{"null", "42", `""`, `{"id":"$ID"}`, `["$ID"]`}).Draw(t, "client-bad-id")})
	case 2:
		ms = append(ms, member{`"id"`, quote("$ID" + strings.Repeat("i", 260))})
	default:
		ms = append(ms, member{`"id"`, `"$ID"`})
	}
	if st := genStatus(t, "client-status", fakehub.ClientStatuses); st != "" {
		ms = append(ms, member{`"status"`, st})
	}
	add := func(name string, ofType func() string) {
		if v, ok := genTyped(t, "client-"+name, ofType); ok {
			ms = append(ms, member{quote(name), v})
		}
	}
	add("name", func() string { return genString(t, "client-name") })
	add("partner_payload", func() string { return genString(t, "client-payload") })
	add("max_channels", func() string { return genNumber(t, "client-max-channels") })
	add("created_at", func() string { return genTimestamp(t, "client-created") })
	add("modified_at", func() string { return genTimestamp(t, "client-modified") })
	add("contact_info", func() string {
		var cms []member
		if v, ok := genTyped(t, "client-email", func() string { return genString(t, "client-email") }); ok {
			cms = append(cms, member{`"email"`, v})
		}
		if v, ok := genTyped(t, "client-phone", func() string { return genString(t, "client-phone") }); ok {
			cms = append(cms, member{`"phone"`, v})
		}
		return object(cms)
	})
	return object(finish(t, "client", ms))
}

// genChannel draws the j-th channel record of client i.
func genChannel(t *rapid.T, i, j int) string {
	if rapid.IntRange(0, 24).Draw(t, "channel-not-object") == 0 {
		return rapid.SampledFrom([]string{"null", "7", `"channel"`, "[]", "false"}).Draw(t, "channel-non-object")
	}
	prefix := fmt.Sprintf("ch-%d-%d-", i, j)
	var ms []member
	switch rapid.IntRange(0, 19).Draw(t, "channel-id-shape") {
	case 0:
	case 1:
		ms = append(ms, member{`"id"`, rapid.SampledFrom([]string{"null", "42", `""`, `{}`}).Draw(t, "channel-bad-id")})
	case 2:
		ms = append(ms, member{`"id"`, quote(prefix + strings.Repeat("i", 257-len(prefix)))}) // 257 bytes
	case 3:
		ms = append(ms, member{`"id"`, quote(prefix + strings.Repeat("i", 256-len(prefix)))}) // 256 bytes: usable
	case 4:
		// Usable, but Postgres text cannot hold it as sent.
		ms = append(ms, member{`"id"`, `"` + prefix + rapid.SampledFrom(hostilePieces[:9]).Draw(t, "channel-id-piece") + `"`})
	case 5:
		ms = append(ms, member{`"id"`, quote(prefix + "é😀 \"'\\/%_")})
	default:
		ms = append(ms, member{`"id"`, quote(prefix + rapid.StringMatching(`[A-Za-z0-9]{0,12}`).Draw(t, "channel-id"))})
	}
	ms = append(ms, member{`"client_id"`, `"$ID"`})
	if st := genStatus(t, "channel-status", fakehub.ChannelStatuses); st != "" {
		ms = append(ms, member{`"status"`, st})
	}
	add := func(name string, ofType func() string) {
		if v, ok := genTyped(t, "channel-"+name, ofType); ok {
			ms = append(ms, member{quote(name), v})
		}
	}
	enum := func(label string, known []string) func() string {
		return func() string {
			if rapid.IntRange(0, 4).Draw(t, label+"-hostile") == 0 {
				return genString(t, label)
			}
			return quote(rapid.SampledFrom(known).Draw(t, label))
		}
	}
	add("availability_status", enum("channel-availability", fakehub.AvailabilityStatuses))
	add("current_limit", enum("channel-limit", fakehub.Limits))
	add("current_quality_rating", enum("channel-quality", fakehub.QualityRatings))
	add("is_oba", func() string { return rapid.SampledFrom([]string{"true", "false"}).Draw(t, "channel-is-oba") })
	add("version", func() string { return genNumber(t, "channel-version") })
	add("created_at", func() string { return genTimestamp(t, "channel-created") })
	add("setup_info", func() string {
		var sms []member
		for _, f := range []string{"phone_number", "phone_name"} {
			if v, ok := genTyped(t, "channel-"+f, func() string { return genString(t, "channel-"+f) }); ok {
				sms = append(sms, member{quote(f), v})
			}
		}
		return object(sms)
	})
	return object(finish(t, "channel", ms))
}

// drawScenario draws a few clients, each with a few channels.
func drawScenario(t *rapid.T) scenario {
	var sc scenario
	for i, n := 0, rapid.IntRange(1, 7).Draw(t, "clients"); i < n; i++ {
		c := scenarioClient{raw: []byte(genClient(t))}
		for j, m := 0, rapid.IntRange(0, 3).Draw(t, "channels"); j < m; j++ {
			c.channels = append(c.channels, []byte(genChannel(t, i, j)))
		}
		sc.clients = append(sc.clients, c)
	}
	return sc
}
