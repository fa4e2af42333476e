// Package cli is the hubsync command line: it parses flags and settings,
// wires the parts together and runs one command. cmd/hubsync calls Run, and
// the end-to-end tests drive the same Run that production does.
package cli

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/term"

	"github.com/hubsync/hubsync/migrations"
	"github.com/hubsync/hubsync/sync/fakehub"
	"github.com/hubsync/hubsync/sync/hubapi"
	"github.com/hubsync/hubsync/sync/logattr"
	"github.com/hubsync/hubsync/sync/metrics"
	"github.com/hubsync/hubsync/sync/syncer"
)

// Exit statuses, as the contract lists them.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitUsage   = 2
	ExitPartial = 3
)

// Env is what a command runs with: its arguments aside, everything it reads
// from or writes to the outside.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Terminal reports whether stderr is an interactive terminal (progress
	// display, text logs). Nil means: ask the operating system.
	Terminal func() bool
}

const usage = `hubsync keeps a Postgres database in step with the 360dialog Partner API.

Usage:
  hubsync serve                  run syncs on a schedule; serve /metrics, /healthz, /readyz
  hubsync sync                   run one sync now, then exit
  hubsync migrate up|down|status|version
                                 apply, roll back or show the database migrations
  hubsync clients update CLIENT_ID [--max-channels N] [--partner-payload TEXT]
                                 change a client through the API and store the result
  hubsync check [--pages N] [--sample N] [--json]
                                 read-only first contact: would a sync work?
  hubsync fakehub                run a local simulation of the Partner API
  hubsync docs [--out FILE]      write the data dictionary of schema hub

Run 'hubsync COMMAND --help' for a command's flags. Settings come from the
environment (DATABASE_URL, HUB_API_URL, HUB_PARTNER_ID, HUB_API_KEY, ...);
flags override them.

Exit status: 0 success (or skipped: another run holds the lock), 1 failure,
2 usage or configuration error, 3 partial sync.
`

// Run runs the command in args (without the program name) and returns its
// exit status.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Terminal == nil {
		env.Terminal = func() bool {
			f, ok := env.Stderr.(*os.File)
			return ok && term.IsTerminal(int(f.Fd()))
		}
	}
	err := dispatch(ctx, args, env)
	var ue *UsageError
	var ex *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "hubsync: %v\n", err)
		return ExitUsage
	case errors.As(err, &ex):
		if ex.msg != "" {
			fmt.Fprintf(env.Stderr, "hubsync: %s\n", ex.msg)
		}
		return ex.code
	default:
		fmt.Fprintf(env.Stderr, "hubsync: %v\n", err)
		return ExitFailed
	}
}

// exitError ends a command with a given status, its story already told.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return fmt.Sprintf("exit %d: %s", e.code, e.msg) }

func dispatch(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, env)
	case "sync":
		return cmdSync(ctx, rest, env)
	case "migrate":
		return cmdMigrate(ctx, rest, env)
	case "clients":
		return cmdClients(ctx, rest, env)
	case "check":
		return cmdCheck(ctx, rest, env)
	case "fakehub":
		return cmdFakehub(ctx, rest, env)
	case "docs":
		return cmdDocs(ctx, rest, env)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	fmt.Fprint(env.Stderr, usage)
	return usagef("unknown command %q", cmd)
}

// newFlagSet makes a command's flag set; errors come back to Run instead of
// exiting the process.
func newFlagSet(name, synopsis string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}

// newLogger builds the slog logger: text on a terminal, JSON otherwise,
// unless HUBSYNC_LOG_FORMAT says.
func newLogger(cfg *config, env Env, level slog.Level) *slog.Logger {
	format := cfg.LogFormat
	if format == "" {
		format = "json"
		if env.Terminal() {
			format = "text"
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(logattr.NewHandler(slog.NewTextHandler(env.Stderr, opts)))
	}
	return slog.New(logattr.NewHandler(slog.NewJSONHandler(env.Stderr, opts)))
}

// openPool connects to the database and checks that it answers.
func openPool(ctx context.Context, cfg *config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		// pgx's message may quote the URL, password and all.
		return nil, usagef("DATABASE_URL: not a valid Postgres connection string")
	}
	pc.ConnConfig.RuntimeParams["application_name"] = "hubsync"
	// Plan each execution of a prepared statement with its parameters: a
	// generic plan cached while the tables were empty is a sequential scan
	// that a first sync would keep using as they grow.
	pc.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	// A page's write statements are estimated expensive while the staging
	// tables have no statistics, and compiling them with JIT costs far more
	// than it saves on a few hundred rows.
	pc.ConnConfig.RuntimeParams["jit"] = "off"
	// A commit need not wait for its WAL to reach disk: should the server
	// crash within the next moment (wal_writer_delay), the database is still
	// consistent, a page and its history are lost together, and the next run
	// writes them again. The single page writer otherwise waits for a flush
	// at every commit.
	pc.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database (DATABASE_URL): %w", err)
	}
	return pool, nil
}

// migrationsProvider opens goose on the pool. Close the returned DB after use.
func migrationsProvider(pool *pgxpool.Pool) (*sql.DB, func(ctx context.Context) (pending bool, err error), error) {
	sqlDB := stdlib.OpenDBFromPool(pool)
	p, err := migrations.NewProvider(sqlDB)
	if err != nil {
		sqlDB.Close()
		return nil, nil, err
	}
	return sqlDB, p.HasPending, nil
}

// migrateUp applies every pending migration.
func migrateUp(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	p, err := migrations.NewProvider(sqlDB)
	if err != nil {
		return err
	}
	if err := migrations.CheckNotAhead(ctx, p); err != nil {
		return err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range res {
		log.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// worker is what sync and serve share: a logger, the API client and a
// migrated database.
type worker struct {
	cfg  *config
	log  *slog.Logger
	api  *hubapi.Client
	pool *pgxpool.Pool
	m    *metrics.Metrics
}

// openWorker checks the API settings, connects to the database and applies
// pending migrations. Close it after use.
func (cfg *config) openWorker(ctx context.Context, env Env, level slog.Level, m *metrics.Metrics) (*worker, error) {
	if err := cfg.requireAPI(); err != nil {
		return nil, err
	}
	log := newLogger(cfg, env, level)
	api, err := newAPI(cfg, log, m)
	if err != nil {
		return nil, err
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := migrateUp(ctx, pool, log); err != nil {
		pool.Close()
		return nil, err
	}
	return &worker{cfg: cfg, log: log, api: api, pool: pool, m: m}, nil
}

func (w *worker) close() { w.pool.Close() }

// syncerConfig is the syncer's configuration from the settings.
func (w *worker) syncerConfig() syncer.Config {
	return syncer.Config{
		Pool: w.pool, API: w.api, PartnerID: w.cfg.PartnerID, PageSize: w.cfg.PageSize,
		Concurrency: w.cfg.Concurrency, AllowMassRemoval: w.cfg.AllowMassRemoval,
		Logger: w.log, Metrics: w.m,
	}
}

// newAPI builds the Partner API client, wired to metrics when given.
func newAPI(cfg *config, log *slog.Logger, m *metrics.Metrics) (*hubapi.Client, error) {
	ac := hubapi.Config{
		BaseURL:    cfg.APIURL,
		PartnerID:  cfg.PartnerID,
		APIKey:     cfg.APIKey,
		Token:      cfg.Token,
		RateLimit:  cfg.RateLimit,
		MaxElapsed: cfg.RetryBudget,
		Logger:     log.With("component", "hubapi"),
	}
	if m != nil {
		ac.OnResponse = func(endpoint string, code int, d time.Duration) {
			m.APIRequests.WithLabelValues(endpoint, fmt.Sprint(code)).Inc()
			m.APIRequestDuration.WithLabelValues(endpoint).Observe(d.Seconds())
			if code == 429 {
				m.APIThrottled.Inc()
			}
		}
		ac.OnRetry = func(endpoint, reason string) { m.APIRetries.WithLabelValues(endpoint, reason).Inc() }
	}
	c, err := hubapi.New(ac)
	if err != nil {
		return nil, usagef("HUB_API_URL: %v", err)
	}
	return c, nil
}

func cmdFakehub(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("fakehub", "hubsync fakehub [flags]", env)
	opts := fakehub.RegisterFlagsEnv(fs, env.Getenv)
	format := fs.String("log-format", env.Getenv("HUBSYNC_LOG_FORMAT"), "text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := &config{LogFormat: *format}
	if err := fakehub.Run(ctx, opts, env.Stdout, newLogger(cfg, env, slog.LevelInfo)); err != nil {
		if strings.Contains(err.Error(), "settings") {
			return usagef("%v", err)
		}
		return err
	}
	return nil
}
