package fakehub

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// DefaultAddr is where `hubsync fakehub` listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8360"

// Options are the settings of `hubsync fakehub`, filled by RegisterFlags.
type Options struct {
	// Addr is the TCP address to listen on ("127.0.0.1:0" picks a port).
	Addr string
	// Config is passed to New; Run sets its Logger.
	Config Config
	// ChurnInterval is how often Churn runs; 0 turns churn off.
	ChurnInterval time.Duration
	// ChurnPerTick is the n passed to Churn on every tick.
	ChurnPerTick int

	envErr error // a malformed FAKEHUB_* variable, reported by Run
}

// RegisterFlags defines the fakehub flags on fs, with defaults taken from
// FAKEHUB_* environment variables where set (flags override them).
func RegisterFlags(fs *flag.FlagSet) *Options { return RegisterFlagsEnv(fs, os.Getenv) }

// RegisterFlagsEnv is RegisterFlags reading the environment through getenv,
// so that callers and tests can inject it.
func RegisterFlagsEnv(fs *flag.FlagSet, getenv func(string) string) *Options {
	o := &Options{}
	env := envDefaults{getenv: getenv}
	fs.StringVar(&o.Addr, "addr", env.str("FAKEHUB_ADDR", DefaultAddr), "address to listen on (env FAKEHUB_ADDR)")
	fs.Int64Var(&o.Config.Seed, "seed", env.int64("FAKEHUB_SEED", 1), "seed of the generated data, churn and faults (env FAKEHUB_SEED)")
	fs.StringVar(&o.Config.PartnerID, "partner-id", env.str("FAKEHUB_PARTNER_ID", DefaultPartnerID), "the partner id served (env FAKEHUB_PARTNER_ID)")
	o.Config.APIKey = env.str("FAKEHUB_API_KEY", DefaultAPIKey)
	fs.Var(&secretFlag{p: &o.Config.APIKey, fromEnv: getenv("FAKEHUB_API_KEY") != ""}, "api-key", "API key accepted in X-API-Key (env FAKEHUB_API_KEY; default demo-key)")
	o.Config.Token = env.str("FAKEHUB_TOKEN", "")
	fs.Var(&secretFlag{p: &o.Config.Token, fromEnv: getenv("FAKEHUB_TOKEN") != ""}, "token", "bearer token also accepted in Authorization (env FAKEHUB_TOKEN; default none)")
	fs.IntVar(&o.Config.Clients, "clients", env.int("FAKEHUB_CLIENTS", DefaultClients), "number of generated clients (env FAKEHUB_CLIENTS)")
	fs.Float64Var(&o.Config.ChannelsPerClient, "channels-per-client", env.float("FAKEHUB_CHANNELS_PER_CLIENT", DefaultChannelsPerClient), "mean channels per client (env FAKEHUB_CHANNELS_PER_CLIENT)")
	fs.DurationVar(&o.Config.Latency, "latency", env.duration("FAKEHUB_LATENCY", 0), "latency added to every request (env FAKEHUB_LATENCY)")
	fs.DurationVar(&o.Config.ListLatency, "list-latency", env.duration("FAKEHUB_LIST_LATENCY", 0), "latency added to list requests, on top of --latency (env FAKEHUB_LIST_LATENCY)")
	fs.DurationVar(&o.Config.SharedLatency, "shared-latency", env.duration("FAKEHUB_SHARED_LATENCY", 0), "latency added to shared-number requests, on top of --latency (env FAKEHUB_SHARED_LATENCY)")
	fs.Float64Var(&o.Config.ErrorRate, "error-rate", env.float("FAKEHUB_ERROR_RATE", 0), "fraction of requests answered 500/502/503 (env FAKEHUB_ERROR_RATE)")
	fs.Float64Var(&o.Config.RPS, "rps", env.float("FAKEHUB_RPS", 0), "requests per second before 429; 0 is unlimited (env FAKEHUB_RPS)")
	fs.BoolVar(&o.Config.Hostile, "hostile", parseEnv(&env, "FAKEHUB_HOSTILE", false, strconv.ParseBool), "serve a share of records with awkward but valid shapes (U+0000, lone surrogates, invalid UTF-8, megabyte strings, deep nesting, huge integers, duplicate keys, wrong types, unknown fields) and some list answers without total (env FAKEHUB_HOSTILE)")
	fs.IntVar(&o.Config.MaxLimit, "max-limit", env.int("FAKEHUB_MAX_LIMIT", DefaultMaxLimit), "largest page size served (env FAKEHUB_MAX_LIMIT)")
	fs.DurationVar(&o.ChurnInterval, "churn-interval", env.duration("FAKEHUB_CHURN_INTERVAL", 0), "how often data changes; 0 is never (env FAKEHUB_CHURN_INTERVAL)")
	fs.IntVar(&o.ChurnPerTick, "churn-per-tick", env.int("FAKEHUB_CHURN_PER_TICK", 10), "changes per churn tick (env FAKEHUB_CHURN_PER_TICK)")
	o.envErr = errors.Join(env.errs...)
	return o
}

// secretFlag is a string flag whose value never shows in usage output.
type secretFlag struct {
	p       *string
	fromEnv bool
}

func (f *secretFlag) String() string {
	switch {
	case f == nil || f.p == nil || *f.p == "":
		return ""
	case f.fromEnv:
		return "(from environment)"
	case *f.p == DefaultAPIKey:
		return DefaultAPIKey // public demo value
	}
	return "(set)"
}

func (f *secretFlag) Set(v string) error {
	*f.p = v
	f.fromEnv = false
	return nil
}

type envDefaults struct {
	getenv func(string) string
	errs   []error
}

func (e *envDefaults) str(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

func parseEnv[T any](e *envDefaults, name string, def T, parse func(string) (T, error)) T {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("environment variable %s=%q: %w", name, v, err))
		return def
	}
	return x
}

func (e *envDefaults) int(name string, def int) int { return parseEnv(e, name, def, strconv.Atoi) }

func (e *envDefaults) int64(name string, def int64) int64 {
	return parseEnv(e, name, def, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
}

func (e *envDefaults) float(name string, def float64) float64 {
	return parseEnv(e, name, def, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
}

func (e *envDefaults) duration(name string, def time.Duration) time.Duration {
	return parseEnv(e, name, def, time.ParseDuration)
}

// Run generates the data, listens on opts.Addr, prints one line with the
// base URL to stdout, churns on a ticker if asked, and stops cleanly (with
// http.Server.Shutdown) when ctx ends, returning nil. It never prints the API
// key or token.
func Run(ctx context.Context, opts *Options, stdout io.Writer, logger *slog.Logger) error {
	if opts.envErr != nil {
		return fmt.Errorf("fakehub settings: %w", opts.envErr)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With(slog.String("component", "fakehub"))
	cfg := opts.Config
	cfg.Logger = logger
	s, err := New(cfg)
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("fakehub listen on %s: %w", opts.Addr, err)
	}
	clients, channels := s.Counts()
	cfg = s.Config()
	if _, err := fmt.Fprintf(stdout, "fakehub listening on http://%s (partner %s, %d clients, %d channels)\n",
		ln.Addr(), cfg.PartnerID, clients, channels); err != nil {
		_ = ln.Close()
		return fmt.Errorf("fakehub announce address: %w", err)
	}

	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var tick <-chan time.Time
	if opts.ChurnInterval > 0 && opts.ChurnPerTick > 0 {
		t := time.NewTicker(opts.ChurnInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdownCtx); err != nil {
				// Stalled requests (a latency knob, a fault) do not make the
				// stop unclean: the operator asked to stop.
				logger.Warn("fakehub shutdown timed out; closing connections", slog.Any("error", err))
				_ = srv.Close()
			}
			<-served
			logger.Info("fakehub stopped")
			return nil
		case err := <-served:
			return fmt.Errorf("fakehub serve: %w", err)
		case <-tick:
			rep := s.Churn(opts.ChurnPerTick)
			logger.Info("fakehub churned", slog.Int("changes", len(rep.Changes)),
				slog.Int("channels_changed", rep.Count(ChannelFieldChanged)),
				slog.Int("channels_added", rep.Count(ChannelAdded)),
				slog.Int("channels_removed", rep.Count(ChannelRemoved)),
				slog.Int("clients_added", rep.Count(ClientAdded)),
				slog.Int("clients_removed", rep.Count(ClientRemoved)))
		}
	}
}
