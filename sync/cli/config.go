package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// UsageError is a bad command line or setting: exit status 2.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &UsageError{msg: fmt.Sprintf(format, args...)} }

// config is every setting of the contract's configuration table, plus the
// service's own. Each comes from its environment variable, then its flag.
type config struct {
	DatabaseURL      string
	APIURL           string
	PartnerID        string
	APIKey           string
	Token            string
	Schedule         string
	PageSize         int
	Concurrency      int
	RateLimit        float64
	HTTPAddr         string
	LogFormat        string
	AllowMassRemoval bool
	ShutdownGrace    time.Duration
	RunAtStart       bool
	RetryBudget      time.Duration
}

// setting describes one configuration value: where it comes from and how it
// is read. Secret settings are never echoed, not even in errors, and may
// also be read from the file named by env+"_FILE" (the Docker and
// Kubernetes secrets convention).
type setting struct {
	env, flag, def, usage string
	secret                bool
	set                   func(c *config, v string) error
}

var settings = []setting{
	{env: "DATABASE_URL", flag: "database-url", def: "postgres://postgres@localhost:5432/postgres?sslmode=disable",
		usage: "Postgres to write to", secret: true,
		set: func(c *config, v string) error {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
				return errors.New("must be a postgres:// URL")
			}
			c.DatabaseURL = v
			return nil
		}},
	{env: "HUB_API_URL", flag: "api-url", def: "https://hub.360dialog.io", usage: "base URL of the Partner API",
		set: func(c *config, v string) error {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return errors.New("must be an absolute http(s) URL")
			}
			if u.User != nil {
				return errors.New("must not carry credentials; use HUB_API_KEY or HUB_TOKEN")
			}
			c.APIURL = strings.TrimRight(v, "/")
			return nil
		}},
	{env: "HUB_PARTNER_ID", flag: "partner-id", usage: "partner whose clients are synced (required for sync)",
		set: func(c *config, v string) error { c.PartnerID = strings.TrimSpace(v); return nil }},
	{env: "HUB_API_KEY", flag: "api-key", usage: "Partner API key, sent as X-API-Key (prefer the environment variable)", secret: true,
		set: func(c *config, v string) error { c.APIKey = v; return nil }},
	{env: "HUB_TOKEN", flag: "token", usage: "alternative: bearer token (prefer the environment variable)", secret: true,
		set: func(c *config, v string) error { c.Token = v; return nil }},
	{env: "HUBSYNC_SCHEDULE", flag: "schedule", def: "*/15 * * * *", usage: "cron spec for serve (5 fields; CRON_TZ= prefix allowed)",
		set: func(c *config, v string) error {
			if _, err := cron.ParseStandard(v); err != nil {
				return fmt.Errorf("not a 5-field cron spec: %v", err)
			}
			c.Schedule = v
			return nil
		}},
	{env: "HUBSYNC_PAGE_SIZE", flag: "page-size", def: "100", usage: "clients per list request",
		set: func(c *config, v string) (err error) { c.PageSize, err = positiveInt(v, 1000); return }},
	{env: "HUBSYNC_CONCURRENCY", flag: "concurrency", def: "8", usage: "shared-number requests in flight",
		set: func(c *config, v string) (err error) { c.Concurrency, err = positiveInt(v, 256); return }},
	{env: "HUBSYNC_RATE_LIMIT", flag: "rate-limit", def: "10", usage: "ceiling on API requests per second",
		set: func(c *config, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f <= 0 || f > 1e6 {
				return errors.New("must be a positive number of requests per second")
			}
			c.RateLimit = f
			return nil
		}},
	{env: "HUBSYNC_HTTP_ADDR", flag: "http-addr", def: ":9090", usage: "listen address for /metrics, /healthz and /readyz (serve)",
		set: func(c *config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return errors.New("must be host:port or :port")
			}
			c.HTTPAddr = v
			return nil
		}},
	{env: "HUBSYNC_LOG_FORMAT", flag: "log-format", usage: "text or json (default: text on a terminal, else json)",
		set: func(c *config, v string) error {
			switch v {
			case "", "text", "json":
				c.LogFormat = v
				return nil
			}
			return errors.New("must be text or json")
		}},
	{env: "HUBSYNC_ALLOW_MASS_REMOVAL", flag: "allow-mass-removal", def: "false", usage: "accept a run that removes more than the mass-removal guard allows",
		set: func(c *config, v string) (err error) { c.AllowMassRemoval, err = parseBool(v); return }},
	{env: "HUBSYNC_SHUTDOWN_GRACE", flag: "shutdown-grace", def: "30s", usage: "how long serve lets an in-flight run finish on SIGTERM",
		set: func(c *config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return errors.New("must be a duration such as 30s")
			}
			c.ShutdownGrace = d
			return nil
		}},
	{env: "HUBSYNC_RUN_AT_START", flag: "run-at-start", def: "false", usage: "serve: run a sync as soon as it starts",
		set: func(c *config, v string) (err error) { c.RunAtStart, err = parseBool(v); return }},
	{env: "HUBSYNC_RETRY_BUDGET", flag: "retry-budget", def: "2m", usage: "how long one API call may spend on failed attempts and their waits",
		set: func(c *config, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d <= 0 {
				return errors.New("must be a positive duration such as 2m")
			}
			c.RetryBudget = d
			return nil
		}},
}

// fileSuffix names the variable that holds the path of a secret setting's
// file: HUB_API_KEY_FILE for HUB_API_KEY.
const fileSuffix = "_FILE"

// maxSecretFile bounds what is read from a secret file, so that a path to
// a device or a large file by mistake fails instead of hanging or filling
// memory; real secrets are far smaller.
const maxSecretFile = 64 << 10

// readSecretFile returns the content of a secret setting's file with one
// trailing newline ("\n" or "\r\n") removed, as editors and `echo` leave
// one. Errors name the variable and the path, never the content.
func readSecretFile(name, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", usagef("%s: cannot read %s: %v", name, path, pathErrCause(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	switch {
	case err != nil:
		return "", usagef("%s: cannot read %s: %v", name, path, pathErrCause(err))
	case len(b) > maxSecretFile:
		return "", usagef("%s: %s is larger than %d KiB; it should hold only the secret", name, path, maxSecretFile>>10)
	}
	v := string(b)
	if t, ok := strings.CutSuffix(v, "\n"); ok {
		v = strings.TrimSuffix(t, "\r")
	}
	if v == "" {
		return "", usagef("%s: %s is empty", name, path)
	}
	return v, nil
}

// pathErrCause drops the operation and path from an *fs.PathError, which
// the message around it names already.
func pathErrCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func positiveInt(v string, max int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 || n > max {
		return 0, fmt.Errorf("must be a whole number from 1 to %d", max)
	}
	return n, nil
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, errors.New("must be true or false")
	}
	return b, nil
}

// bind registers the named settings as flags on fs, and returns a function
// that, after fs.Parse, reads each setting from its flag when given, else
// from the environment, else its default.
func bind(fs *flag.FlagSet, getenv func(string) string, names ...string) func() (*config, error) {
	type bound struct {
		s    *setting
		flag *string
	}
	var bs []bound
	for i := range settings {
		s := &settings[i]
		if !slices.Contains(names, s.env) {
			continue
		}
		def := s.def
		shown := def
		if s.secret {
			shown = ""
		}
		usage := fmt.Sprintf("%s (env %s", s.usage, s.env)
		if s.secret {
			usage += " or " + s.env + fileSuffix
		}
		if shown != "" {
			usage += ", default " + shown
		}
		usage += ")"
		if s.env == "HUBSYNC_ALLOW_MASS_REMOVAL" || s.env == "HUBSYNC_RUN_AT_START" {
			bs = append(bs, bound{s, boolFlag(fs, s.flag, usage)})
			continue
		}
		bs = append(bs, bound{s, stringFlag(fs, s.flag, usage)})
	}
	return func() (*config, error) {
		c := &config{}
		// Defaults first, so that every field is set even when unnamed.
		for i := range settings {
			if settings[i].def != "" {
				_ = settings[i].set(c, settings[i].def)
			}
		}
		for _, b := range bs {
			v, from := b.s.def, ""
			if e := getenv(b.s.env); e != "" {
				v, from = e, b.s.env
			}
			if b.s.secret {
				fileVar := b.s.env + fileSuffix
				if path := getenv(fileVar); path != "" {
					if from != "" {
						return nil, usagef("%s and %s are both set; set only one", b.s.env, fileVar)
					}
					// A flag given too wins over the file, as over any
					// variable, but a file named is still read: a broken
					// one is an error either way.
					fv, err := readSecretFile(fileVar, path)
					if err != nil {
						return nil, err
					}
					v, from = fv, fileVar+" ("+path+")"
				}
			}
			if b.flag != nil && *b.flag != "\x00" {
				v, from = *b.flag, "--"+b.s.flag
			}
			if from == "" && v == "" {
				continue
			}
			if err := b.s.set(c, v); err != nil {
				if from == "" {
					from = b.s.env
				}
				if b.s.secret || strings.ContainsAny(v, "@") {
					// A value with an @ may be a URL with credentials in it.
					return nil, usagef("%s: %v", from, err)
				}
				return nil, usagef("%s: %v (got %q)", from, err, v)
			}
		}
		return c, nil
	}
}

// stringFlag is a string flag whose unset state ("\x00") can be told from
// an explicit empty value.
func stringFlag(fs *flag.FlagSet, name, usage string) *string {
	v := "\x00"
	fs.Func(name, usage, func(s string) error { v = s; return nil })
	return &v
}

// boolFlag is a boolean flag recorded as a string, so unset is visible.
func boolFlag(fs *flag.FlagSet, name, usage string) *string {
	v := "\x00"
	fs.BoolFunc(name, usage, func(s string) error { v = s; return nil })
	return &v
}

// requireAPI checks what talking to the Partner API needs.
func (c *config) requireAPI() error {
	if c.PartnerID == "" {
		return usagef("HUB_PARTNER_ID: required (the partner whose clients are synced); set it or pass --partner-id")
	}
	if c.APIKey == "" && c.Token == "" {
		return usagef("HUB_API_KEY: required (or HUB_TOKEN): the Partner API needs credentials")
	}
	return nil
}
