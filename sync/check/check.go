// Package check is `hubsync check`: a read-only first contact with a
// Partner API and a database. It answers whether a sync would work, and
// tells precisely what hubsync would do with the partner's data: it reads
// the first pages of the client listing and the shared numbers of a sample
// of clients, validates every answer against the published OpenAPI
// document (sync/apispec), measures the pace, and checks the database's
// migrations and privileges. It writes nothing, neither to the database
// (its connections are read-only) nor to the API (it only sends GETs).
package check

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ReportVersion is the version of the JSON document; it changes only when a
// field changes meaning or goes away.
const ReportVersion = 1

// Defaults of Config.
const (
	DefaultPages          = 3
	DefaultSample         = 20
	DefaultMaxElapsed     = 20 * time.Second
	DefaultRequestTimeout = 20 * time.Second
)

// Config is what a check runs with: the sync's own settings, already parsed
// and validated, and the check's flags.
type Config struct {
	// DatabaseURL is the database the sync would write to.
	DatabaseURL string
	// BaseURL, PartnerID, APIKey and Token are the Partner API settings.
	BaseURL   string
	PartnerID string
	APIKey    string
	Token     string
	// PageSize, Concurrency and RateLimit are the sync's: the check lists
	// with the same page size, fetches shared numbers with the same
	// concurrency, and stays within the same rate.
	PageSize    int
	Concurrency int
	RateLimit   float64
	// Schedule is the cron spec of `serve` (robfig/cron standard syntax).
	Schedule string
	// Pages is how many list pages to read. Default 3.
	Pages int
	// Sample is how many clients' shared numbers to read, spread across the
	// pages. Default 20.
	Sample int
	// HTTPClient sends the requests; its Transport is wrapped to record
	// each exchange. Default: hubapi.NewHTTPClient().
	HTTPClient *http.Client
	// MaxElapsed bounds the retries of one API call, so that an API that
	// cannot be reached is reported within a minute. Default 20s.
	MaxElapsed time.Duration
	// RequestTimeout bounds one attempt. Default 20s.
	RequestTimeout time.Duration
	// Now is the clock the schedule is read with. Default time.Now.
	Now func() time.Time
}

// Status is a step's or a finding's outcome.
type Status string

// Outcomes, from best to worst. A step's status is its worst finding's.
const (
	StatusOK      Status = "ok"
	StatusWarning Status = "warning"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "skipped"
)

func (s Status) rank() int {
	switch s {
	case StatusWarning:
		return 1
	case StatusFailed:
		return 2
	}
	return 0
}

// Finding is one fact a step established.
type Finding struct {
	Status  Status `json:"status"`
	Message string `json:"message"`
	// Advice is one line saying what to do, where something is off.
	Advice string `json:"advice,omitempty"`
}

// Step is what every section of the report has: its outcome and findings.
type Step struct {
	Status   Status    `json:"status"`
	Findings []Finding `json:"findings"`
}

func (s *Step) add(st Status, advice, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	s.Findings = append(s.Findings, Finding{Status: st, Message: msg, Advice: advice})
	if st.rank() > s.Status.rank() || s.Status == "" || s.Status == StatusSkipped {
		s.Status = st
	}
}

func (s *Step) ok(format string, args ...any) { s.add(StatusOK, "", format, args...) }
func (s *Step) warn(advice, format string, args ...any) {
	s.add(StatusWarning, advice, format, args...)
}
func (s *Step) fail(advice, format string, args ...any) {
	s.add(StatusFailed, advice, format, args...)
}
func (s *Step) skip(format string, args ...any) {
	s.Findings = append(s.Findings, Finding{Status: StatusSkipped, Message: fmt.Sprintf(format, args...)})
	if s.Status == "" {
		s.Status = StatusSkipped
	}
}

// Report is the outcome of a check, the --json document.
type Report struct {
	Version int `json:"version"`
	// Verdict is "ok" (a sync would work), "warning" (it would work; see
	// the warnings) or "failed" (it would fail or lose data).
	Verdict  Status `json:"verdict"`
	ExitCode int    `json:"exit_code"`
	// CheckedAt is when the check started (UTC), Duration how long it took.
	CheckedAt time.Time `json:"checked_at"`
	Duration  float64   `json:"duration_seconds"`

	Settings      SettingsResult    `json:"settings"`
	Database      DatabaseResult    `json:"database"`
	API           APIResult         `json:"api"`
	Listing       ListingResult     `json:"listing"`
	SharedNumbers SharedResult      `json:"shared_numbers"`
	Conformance   ConformanceResult `json:"conformance"`
	Pace          PaceResult        `json:"pace"`

	// secrets are the values the writers redact, should one have slipped
	// into a message (an error that quotes a URL, say).
	secrets []string
}

// SettingsResult restates the settings the check ran with, secrets left
// out: the credential is named, never shown.
type SettingsResult struct {
	Step
	APIURL    string `json:"api_url"`
	PartnerID string `json:"partner_id"`
	// Credential is "api_key" (sent as X-API-Key) or "bearer_token".
	Credential  string  `json:"credential"`
	Database    string  `json:"database"`
	PageSize    int     `json:"page_size"`
	Concurrency int     `json:"concurrency"`
	RateLimit   float64 `json:"rate_limit"`
	Schedule    string  `json:"schedule"`
	Pages       int     `json:"pages"`
	Sample      int     `json:"sample"`
}

// Run checks everything and returns the report. It fails only by
// reporting: every problem is a finding.
func Run(ctx context.Context, cfg Config) *Report {
	cfg.defaults()
	start := cfg.Now()
	r := &Report{Version: ReportVersion, CheckedAt: start.UTC().Truncate(time.Second), secrets: secretsOf(cfg)}
	r.Settings = settingsStep(cfg)
	r.Database = checkDatabase(ctx, cfg.DatabaseURL)
	checkAPI(ctx, cfg, r)
	r.Duration = roundTo(cfg.Now().Sub(start).Seconds(), 3)
	r.Verdict, r.ExitCode = StatusOK, 0
	for _, s := range r.steps() {
		if s.step.Status.rank() > r.Verdict.rank() {
			r.Verdict = s.step.Status
		}
	}
	if r.Verdict == StatusFailed {
		r.ExitCode = 1
	}
	return r
}

// secretsOf lists the secret values of cfg: the API key, the token, the
// database password and the database URL itself.
func secretsOf(cfg Config) []string {
	out := []string{cfg.APIKey, cfg.Token, cfg.DatabaseURL}
	if u, err := url.Parse(cfg.DatabaseURL); err == nil {
		if pw, ok := u.User.Password(); ok {
			out = append(out, pw, url.QueryEscape(pw), url.PathEscape(pw))
		}
	}
	var keep []string
	for _, s := range out {
		// A one- or two-character secret would redact half the report.
		if len(s) >= 3 {
			keep = append(keep, s)
		}
	}
	return keep
}

func (cfg *Config) defaults() {
	if cfg.Pages <= 0 {
		cfg.Pages = DefaultPages
	}
	if cfg.Sample < 0 {
		cfg.Sample = 0
	}
	if cfg.MaxElapsed <= 0 {
		cfg.MaxElapsed = DefaultMaxElapsed
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
}

// namedStep is a report section with its title, in report order.
type namedStep struct {
	title string
	step  *Step
}

func (r *Report) steps() []namedStep {
	return []namedStep{
		{"Settings", &r.Settings.Step},
		{"Database", &r.Database.Step},
		{"API", &r.API.Step},
		{"Listing", &r.Listing.Step},
		{"Shared numbers", &r.SharedNumbers.Step},
		{"Conformance to the OpenAPI document", &r.Conformance.Step},
		{"Pace", &r.Pace.Step},
	}
}

func settingsStep(cfg Config) SettingsResult {
	s := SettingsResult{
		APIURL: cfg.BaseURL, PartnerID: cfg.PartnerID, Database: describeDatabase(cfg.DatabaseURL),
		PageSize: cfg.PageSize, Concurrency: cfg.Concurrency, RateLimit: cfg.RateLimit,
		Schedule: cfg.Schedule, Pages: cfg.Pages, Sample: cfg.Sample,
	}
	switch {
	case cfg.APIKey != "":
		s.Credential = "api_key"
		s.ok("settings parse; partner %s, credential: API key (X-API-Key header)", cfg.PartnerID)
		if cfg.Token != "" {
			s.warn("unset HUB_TOKEN, or HUB_API_KEY to use the token", "HUB_TOKEN is set too but unused: the API key takes precedence")
		}
	default:
		s.Credential = "bearer_token"
		s.ok("settings parse; partner %s, credential: bearer token (Authorization header)", cfg.PartnerID)
	}
	return s
}

// describeDatabase names the database of a URL without its password:
// user@host:port/dbname.
func describeDatabase(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "(unparseable)"
	}
	host := u.Host
	if host == "" {
		host = u.Query().Get("host")
	}
	return u.User.Username() + "@" + host + u.Path
}

// clean makes text from the API safe to print: at most max bytes, control
// characters and invalid UTF-8 replaced.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	cut := false
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "")
		cut = true
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '\uFFFD'
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return s
}

func roundTo(f float64, places int) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', places, 64), 64)
	return v
}
