package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"gopkg.in/yaml.v3"

	"github.com/hubsync/hubsync/sync/dbtest"
	"github.com/hubsync/hubsync/sync/fakehub"
)

const (
	promUID = "hubsync-prometheus"
	pgUID   = "hubsync-postgres"
)

var dashboardFiles = []string{"operations.json", "channel-health.json"}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID      string        `json:"refId"`
	Datasource datasourceRef `json:"datasource"`
	Expr       string        `json:"expr"`
	RawSQL     string        `json:"rawSql"`
	Format     string        `json:"format"`
}

type override struct {
	Matcher struct {
		ID      string `json:"id"`
		Options any    `json:"options"`
	} `json:"matcher"`
}

type panel struct {
	Type        string        `json:"type"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	Datasource  datasourceRef `json:"datasource"`
	Targets     []target      `json:"targets"`
	Panels      []panel       `json:"panels"`
	FieldConfig struct {
		Overrides []override `json:"overrides"`
	} `json:"fieldConfig"`
}

type variable struct {
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	Datasource datasourceRef `json:"datasource"`
	Definition string        `json:"definition"`
	Query      any           `json:"query"`
	Multi      bool          `json:"multi"`
	IncludeAll bool          `json:"includeAll"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T, file string) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(readFile(t, filepath.Join("deploy/grafana/dashboards", file)), &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d
}

// allPanels returns the dashboard's panels, those inside rows included,
// rows themselves excluded.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func (d dashboard) variable(name string) (variable, bool) {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return variable{}, false
}

// TestDashboardsUseProvisionedDatasources checks that every panel and
// variable names a data source the provisioning creates, with its type, and
// that both dashboards have a partner variable.
func TestDashboardsUseProvisionedDatasources(t *testing.T) {
	t.Parallel()
	var prov struct {
		Datasources []struct {
			Name, UID, Type, URL, User string
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/grafana/provisioning/datasources/hubsync.yml"), &prov); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, ds := range prov.Datasources {
		types[ds.UID] = ds.Type
	}
	if types[promUID] != "prometheus" || types[pgUID] != "grafana-postgresql-datasource" {
		t.Fatalf("provisioned data sources %v; want %s (prometheus) and %s (grafana-postgresql-datasource)", types, promUID, pgUID)
	}
	check := func(where string, ref datasourceRef) {
		if typ, ok := types[ref.UID]; !ok || typ != ref.Type {
			t.Errorf("%s: data source %+v is not provisioned (provisioned: %v)", where, ref, types)
		}
	}
	uids := map[string]string{}
	for _, file := range dashboardFiles {
		d := loadDashboard(t, file)
		if d.UID == "" || uids[d.UID] != "" {
			t.Errorf("%s: uid %q is empty or also used by %s", file, d.UID, uids[d.UID])
		}
		uids[d.UID] = file
		if _, ok := d.variable("partner"); !ok {
			t.Errorf("%s: no partner variable", file)
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" {
				check(fmt.Sprintf("%s variable %s", file, v.Name), v.Datasource)
			}
		}
		ps := d.allPanels()
		if len(ps) < 7 {
			t.Errorf("%s: %d panels, want 7 or more", file, len(ps))
		}
		for _, p := range ps {
			where := fmt.Sprintf("%s panel %q", file, p.Title)
			if p.Title == "" || p.Description == "" {
				t.Errorf("%s: needs a title and a description", where)
			}
			check(where, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			for _, tg := range p.Targets {
				check(where+" target "+tg.RefID, tg.Datasource)
			}
		}
	}
}

// ------------------------------------------------------------ SQL panels

// timeRange is the dashboard's time range in a test: Grafana's "now-30d"
// to "now".
type timeRange struct{ from, to time.Time }

var sqlVar = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}|\$(\w+)`)

// interpolateSQL replaces dashboard variables as Grafana's front end does
// before the query reaches the data source: a single value as is, or in
// format sqlstring quoted with its quotes doubled. Macros ($__name(...))
// are left for expandMacros; any other unknown variable is an error.
func interpolateSQL(q string, vars map[string]string) (string, error) {
	var err error
	out := sqlVar.ReplaceAllStringFunc(q, func(m string) string {
		sm := sqlVar.FindStringSubmatch(m)
		name, format := sm[1]+sm[3], sm[2]
		v, ok := vars[name]
		if !ok {
			if strings.HasPrefix(name, "__") {
				return m // a macro
			}
			if err == nil {
				err = fmt.Errorf("unknown variable %s", m)
			}
			return m
		}
		switch format {
		case "":
			return v
		case "sqlstring":
			return "'" + strings.ReplaceAll(v, "'", "''") + "'"
		default:
			if err == nil {
				err = fmt.Errorf("variable %s: format %q not supported here", m, format)
			}
			return m
		}
	})
	return out, err
}

var sqlMacro = regexp.MustCompile(`\$([_a-zA-Z0-9]+)\(([^\)]*)\)`)

// expandMacros expands the macros of Grafana's Postgres data source as its
// macro engine does (pkg/tsdb/grafana-postgresql-datasource/macros.go),
// TimescaleDB off; an unknown macro is an error, as there.
func expandMacros(q string, tr timeRange) (string, error) {
	var err error
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	out := sqlMacro.ReplaceAllStringFunc(q, func(m string) string {
		sm := sqlMacro.FindStringSubmatch(m)
		name := sm[1]
		args := strings.Split(sm[2], ",")
		for i := range args {
			args[i] = strings.TrimSpace(args[i])
		}
		fail := func(format string, a ...any) string {
			if err == nil {
				err = fmt.Errorf("%s: %s", m, fmt.Sprintf(format, a...))
			}
			return "macro_error()"
		}
		switch name {
		case "__time":
			return args[0] + ` AS "time"`
		case "__timeEpoch":
			return "extract(epoch from " + args[0] + `) as "time"`
		case "__timeFilter":
			return fmt.Sprintf("%s BETWEEN '%s' AND '%s'", args[0], ts(tr.from), ts(tr.to))
		case "__timeFrom":
			return "'" + ts(tr.from) + "'"
		case "__timeTo":
			return "'" + ts(tr.to) + "'"
		case "__timeGroup", "__timeGroupAlias":
			if len(args) < 2 {
				return fail("needs a time column and an interval")
			}
			if len(args) > 2 {
				return fail("fill modes are not supported here")
			}
			d, perr := parseGrafanaInterval(strings.Trim(args[1], "'"))
			if perr != nil {
				return fail("%v", perr)
			}
			s := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
			g := fmt.Sprintf("floor(extract(epoch from %s)/%s)*%s", args[0], s, s)
			if name == "__timeGroupAlias" {
				g += ` AS "time"`
			}
			return g
		default:
			return fail("unknown macro")
		}
	})
	return out, err
}

// parseGrafanaInterval parses an interval such as 30s, 5m, 1h, 1d or 1w.
func parseGrafanaInterval(s string) (time.Duration, error) {
	units := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}
	for _, u := range []string{"ms", "s", "m", "h", "d", "w"} {
		if n, ok := strings.CutSuffix(s, u); ok {
			if v, err := strconv.Atoi(n); err == nil && v > 0 {
				return time.Duration(v) * units[u], nil
			}
		}
	}
	return 0, fmt.Errorf("not an interval: %q", s)
}

// seedChannelHealth fills a fresh database by real syncs of two partners,
// with changes between the syncs of the first so that every Channel health
// panel has something to show: a channel from ready to error, one that
// recovers from error, a quality drop, a new channel that onboards, and the
// simulator's own churn.
func seedChannelHealth(t *testing.T) (dbURL, partner, other string) {
	t.Helper()
	dbURL = newDB(t)
	a := newPartnerHub(t, fakehub.Config{Clients: 40, Seed: 3, PartnerID: "partner-a"})
	b := newPartnerHub(t, fakehub.Config{Clients: 10, Seed: 4, PartnerID: "partner-b"})
	envA, envB := a.env(dbURL, nil), b.env(dbURL, nil)

	// Three live channels of partner A, in distinct clients when possible.
	var chans []string
	var clientOfNew string
	for _, c := range a.hub.ClientIDs() {
		if ids := a.hub.ChannelIDs(c); len(ids) > 0 && len(chans) < 3 {
			chans = append(chans, ids[0])
		} else if clientOfNew == "" {
			clientOfNew = c
		}
	}
	if len(chans) < 3 || clientOfNew == "" {
		t.Fatalf("the simulator has too few clients with channels: %v", chans)
	}
	toError, recovers, drops := chans[0], chans[1], chans[2]
	set := func(id, field string, v any) {
		t.Helper()
		if err := a.hub.SetChannelField(id, field, v); err != nil {
			t.Fatal(err)
		}
	}
	set(toError, "status", "ready")
	set(recovers, "status", "ready")
	set(drops, "current_quality_rating", "High")
	syncOnce(t, envA)
	syncOnce(t, envB)

	set(toError, "status", "error")
	set(recovers, "status", "error")
	set(drops, "current_quality_rating", "Low")
	newChannel := a.hub.AddChannel(clientOfNew)
	set(newChannel, "status", "created")
	a.hub.Churn(20)
	syncOnce(t, envA)

	set(recovers, "status", "ready")
	set(newChannel, "status", "ready")
	a.hub.Churn(20)
	syncOnce(t, envA)
	return dbURL, "partner-a", "partner-b"
}

// colKind classifies a result column by its Postgres type.
func colKind(oid uint32) string {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID:
		return "number"
	case pgtype.TimestamptzOID, pgtype.TimestampOID, pgtype.DateOID:
		return "time"
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.NameOID, pgtype.BPCharOID:
		return "string"
	}
	return fmt.Sprintf("oid %d", oid)
}

type result struct {
	cols  []string
	kinds []string
	rows  [][]any
}

// runReadOnly runs q in a read-only transaction, as the reader login of
// docs/reader-role.sql does.
func runReadOnly(ctx context.Context, pool *pgxpool.Pool, q string) (result, error) {
	var r result
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for _, fd := range rows.FieldDescriptions() {
			r.cols = append(r.cols, fd.Name)
			r.kinds = append(r.kinds, colKind(fd.DataTypeOID))
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				return err
			}
			r.rows = append(r.rows, vals)
		}
		return rows.Err()
	})
	return r, err
}

// checkShape checks that a panel's result has the shape its visualisation
// needs, and returns what is wrong.
func checkShape(p panel, tg target, r result) []string {
	var errs []string
	if len(r.rows) == 0 {
		errs = append(errs, "no rows: the seeded database should give every panel something to show")
	}
	switch {
	case tg.Format == "time_series":
		// Grafana: a column named time (a timestamp or epoch seconds),
		// optionally a string column named metric, and numeric values,
		// sorted by time.
		if len(r.cols) < 2 || r.cols[0] != "time" || (r.kinds[0] != "time" && r.kinds[0] != "number") {
			errs = append(errs, fmt.Sprintf("want a first column named time holding a timestamp or epoch seconds, got %v %v", r.cols, r.kinds))
			break
		}
		values := 0
		for i := 1; i < len(r.cols); i++ {
			switch {
			case r.cols[i] == "metric" && r.kinds[i] == "string":
			case r.kinds[i] == "number":
				values++
			default:
				errs = append(errs, fmt.Sprintf("column %q is %s; a time series wants numbers (or a string column named metric)", r.cols[i], r.kinds[i]))
			}
		}
		if values == 0 {
			errs = append(errs, "no numeric value column")
		}
		var prev float64
		for i, row := range r.rows {
			var x float64
			switch v := row[0].(type) {
			case time.Time:
				x = float64(v.UnixNano())
			case float64:
				x = v
			case int64:
				x = float64(v)
			case pgtype.Numeric:
				f, _ := v.Float64Value()
				x = f.Float64
			}
			if i > 0 && x < prev {
				errs = append(errs, "rows are not sorted by time")
				break
			}
			prev = x
		}
	case p.Type == "stat":
		// One row of numbers, one stat each.
		if len(r.rows) != 1 {
			errs = append(errs, fmt.Sprintf("a stat panel wants one row, got %d", len(r.rows)))
		}
		for i, k := range r.kinds {
			if k != "number" {
				errs = append(errs, fmt.Sprintf("column %q is %s; a stat wants numbers", r.cols[i], k))
			}
			for _, row := range r.rows {
				if row[i] == nil {
					errs = append(errs, fmt.Sprintf("column %q is NULL: the seeded database should give it a value", r.cols[i]))
				}
			}
		}
	case p.Type == "table":
		if len(r.cols) < 2 {
			errs = append(errs, fmt.Sprintf("a table of %d columns", len(r.cols)))
		}
	default:
		errs = append(errs, fmt.Sprintf("panel type %s with format %q: no shape known", p.Type, tg.Format))
	}
	seen := map[string]bool{}
	for _, c := range r.cols {
		if seen[c] {
			errs = append(errs, fmt.Sprintf("column %q twice", c))
		}
		seen[c] = true
	}
	// Overrides by name must name a returned field, or they silently do
	// nothing. For a time series with a metric column, fields are named
	// after the metric values instead.
	if !slices.Contains(r.cols, "metric") {
		for _, o := range p.FieldConfig.Overrides {
			if name, ok := o.Matcher.Options.(string); ok && o.Matcher.ID == "byName" && !seen[name] {
				errs = append(errs, fmt.Sprintf("override for field %q, which the query does not return (%v)", name, r.cols))
			}
		}
	}
	return errs
}

// viewsOnly are the relations of schema hub the Channel health dashboard
// may read: the analyst views.
var viewsOnly = []string{"current_channels", "channel_status_intervals", "daily_channel_status", "client_overview",
	"channel_status_history", "client_status_history", "channel_attribute_history"}

var hubRelation = regexp.MustCompile(`\bhub\.(\w+)`)

// TestChannelHealthPanelsRunOnSyncedData expands every SQL query of the
// Channel health dashboard as Grafana would and runs it against a database
// filled by real syncs, checking each result has the shape its panel needs.
func TestChannelHealthPanelsRunOnSyncedData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL, partner, other := seedChannelHealth(t)
	pool := dbtest.Pool(t, dbURL)
	d := loadDashboard(t, "channel-health.json")
	now := time.Now()
	tr := timeRange{from: now.Add(-30 * 24 * time.Hour), to: now.Add(time.Minute)}

	// The partner variable lists both partners.
	pv, ok := d.variable("partner")
	if !ok {
		t.Fatal("channel-health.json has no partner variable")
	}
	if pv.Multi || pv.IncludeAll {
		t.Errorf("the partner variable is multi-value or has All; the panels compare partner_id with one value")
	}
	q, _ := pv.Query.(string)
	r, err := runReadOnly(ctx, pool, q)
	if err != nil {
		t.Fatalf("partner variable query: %v\n%s", err, q)
	}
	var partners []string
	for _, row := range r.rows {
		partners = append(partners, fmt.Sprint(row[0]))
	}
	if !slices.Equal(partners, []string{partner, other}) {
		t.Errorf("partner variable lists %v, want [%s %s]", partners, partner, other)
	}

	ps := d.allPanels()
	for _, p := range ps {
		for _, tg := range p.Targets {
			where := fmt.Sprintf("panel %q", p.Title)
			if tg.Datasource.UID != pgUID || strings.TrimSpace(tg.RawSQL) == "" {
				t.Errorf("%s: want a raw SQL query on %s", where, pgUID)
				continue
			}
			for _, m := range hubRelation.FindAllStringSubmatch(tg.RawSQL, -1) {
				if !slices.Contains(viewsOnly, m[1]) {
					t.Errorf("%s reads hub.%s; the dashboard reads the analyst views", where, m[1])
				}
			}
			for _, pid := range []string{partner, other} {
				q, err := interpolateSQL(tg.RawSQL, map[string]string{"partner": pid})
				if err == nil {
					q, err = expandMacros(q, tr)
				}
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				r, err := runReadOnly(ctx, pool, q)
				if err != nil {
					t.Errorf("%s (partner %s): %v\n%s", where, pid, err, q)
					continue
				}
				if pid != partner {
					// The other partner's few rows need not fill every
					// panel; that its queries run is the check.
					continue
				}
				for _, e := range checkShape(p, tg, r) {
					t.Errorf("%s: %s\n%s", where, e, q)
				}
			}
		}
	}
}

// TestGrafanaMacroExpansion pins the expansion to Grafana's output.
func TestGrafanaMacroExpansion(t *testing.T) {
	t.Parallel()
	tr := timeRange{
		from: time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC),
		to:   time.Date(2026, 12, 3, 8, 30, 0, 500_000_000, time.FixedZone("CET", 3600)),
	}
	for _, c := range []struct{ in, want string }{
		{"WHERE $__timeFilter(changed_at)", "WHERE changed_at BETWEEN '2026-11-03T08:00:00Z' AND '2026-12-03T07:30:00.5Z'"},
		{"SELECT $__timeGroupAlias(changed_at, '1d'), 1", `SELECT floor(extract(epoch from changed_at)/86400)*86400 AS "time", 1`},
		{"GROUP BY $__timeGroup(t,'5m')", "GROUP BY floor(extract(epoch from t)/300)*300"},
		{"day BETWEEN $__timeFrom()::date AND $__timeTo()::date", "day BETWEEN '2026-11-03T08:00:00Z'::date AND '2026-12-03T07:30:00.5Z'::date"},
	} {
		got, err := expandMacros(c.in, tr)
		if err != nil || got != c.want {
			t.Errorf("expandMacros(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := expandMacros("$__unknownMacro(x)", tr); err == nil {
		t.Errorf("an unknown macro expanded without error")
	}
	got, err := interpolateSQL("partner_id = ${partner:sqlstring} AND x = '$partner' AND $__timeFilter(t)", map[string]string{"partner": "o'brien"})
	if want := "partner_id = 'o''brien' AND x = 'o'brien' AND $__timeFilter(t)"; err != nil || got != want {
		t.Errorf("interpolateSQL = %q, %v; want %q", got, err, want)
	}
	if _, err := interpolateSQL("$nope", nil); err == nil {
		t.Errorf("an unknown variable interpolated without error")
	}
}
