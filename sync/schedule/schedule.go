// Package schedule is the long-running part of `hubsync serve`: it runs a
// sync Job on a cron schedule, once at start when asked to or when the last
// successful run is overdue, and serves /metrics, /healthz and /readyz.
//
// It knows nothing about how a sync is done. The Job does the work (and
// takes the cross-replica lock); this package decides when it runs, never
// lets two runs of one process overlap, survives a panicking run, records
// every outcome, and stops cleanly: on shutdown it schedules nothing new,
// gives the run in flight Config.ShutdownGrace to finish, then cancels it.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/hubsync/hubsync/sync/metrics"
)

// The results a Job reports. They are the values of the result label of
// hubsync_sync_runs_total (ResultSkipped excepted: skips are counted in
// hubsync_sync_runs_skipped_total).
const (
	ResultSucceeded = "succeeded"
	ResultPartial   = "partial"
	ResultFailed    = "failed"
	// ResultSkipped means the run did not happen because another replica
	// (or process) held the sync lock.
	ResultSkipped = "skipped"
)

// DefaultSchedule is used when Config.Schedule is empty; it matches the
// documented default of HUBSYNC_SCHEDULE.
const DefaultSchedule = "*/15 * * * *"

// DefaultShutdownGrace is used when Config.ShutdownGrace is zero.
const DefaultShutdownGrace = 30 * time.Second

const (
	// lastSuccessTimeout bounds the start-up query for the last success, so
	// that an unreachable database cannot hold up serving health endpoints.
	lastSuccessTimeout = 10 * time.Second
	// readyTimeout bounds one /readyz check: probes have short timeouts of
	// their own, and a hanging check must answer "not ready", not hang.
	readyTimeout = 2 * time.Second
	// httpShutdownTimeout bounds the final drain of the HTTP server.
	httpShutdownTimeout = 5 * time.Second
)

// Job runs one sync. It returns the run's result: ResultSucceeded,
// ResultPartial, ResultFailed or ResultSkipped (another replica holds the
// lock), and an error that says why when the result is not ResultSucceeded.
//
// ctx is cancelled only when shutdown has waited Config.ShutdownGrace for
// the run; a Job must return soon after. A Job logs its own lines with its
// run_id; the scheduler logs the outcome.
type Job func(ctx context.Context) (result string, err error)

// Config configures a Scheduler. Job is required; the zero value of every
// other field is usable.
type Config struct {
	// Schedule is a 5-field cron spec (minute hour day-of-month month
	// day-of-week), optionally prefixed with CRON_TZ=<zone>, or a descriptor
	// such as @hourly or @every 10m. Empty means DefaultSchedule. New
	// rejects a malformed or never-firing spec with an error that names
	// HUBSYNC_SCHEDULE.
	Schedule string
	// Job is the sync to run.
	Job Job
	// RunAtStart runs the Job once as soon as Run starts, whatever
	// LastSuccess says.
	RunAtStart bool
	// LastSuccess reports when the last successful run ended (ok false:
	// never). At start, a last success older than one schedule interval, or
	// none, triggers one catch-up run right away, so that a restart after a
	// long outage does not wait for the next tick. An error also triggers
	// the catch-up run (it is logged). It also seeds /healthz and the
	// last-success gauge, so they are right from the first scrape after a
	// restart. Nil disables the catch-up.
	LastSuccess func(ctx context.Context) (time.Time, bool, error)
	// ShutdownGrace is how long shutdown waits for the run in flight before
	// cancelling its context. Zero means DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// Addr is the HTTP listen address for /metrics, /healthz and /readyz
	// (HUBSYNC_HTTP_ADDR, e.g. ":9090"; ":0" picks a free port, see
	// Scheduler.Addr). Empty means no HTTP server; Handler still works.
	Addr string
	// Metrics receives each run's outcome and is served on /metrics. Nil
	// records nothing, and /metrics is not served.
	Metrics *metrics.Metrics
	// Ready is the readiness check behind /readyz (database reachable,
	// migrations current). Its error text is shown to the prober, so it
	// must not carry secrets. Nil means always ready.
	Ready func(ctx context.Context) error
	// Logger is the parent logger; the scheduler logs with component
	// "schedule". Nil discards logs.
	Logger *slog.Logger
}

// Scheduler runs a Job on a cron schedule and serves its health. Build it
// with New and call Run once.
type Scheduler struct {
	cfg   Config
	spec  string
	sched cron.Schedule
	log   *slog.Logger
	cron  *cron.Cron
	// tick is the entry as cron runs it: the Job behind our own recover,
	// behind cron's Recover and SkipIfStillRunning. Runs at start go through
	// it too, so that they share SkipIfStillRunning's token with the ticks.
	tick cron.Job
	mux  *http.ServeMux

	runStarted atomic.Bool
	stopping   atomic.Bool
	// pendingTrigger labels the next run for the logs ("start",
	// "catch-up"); runs without one are "schedule".
	pendingTrigger atomic.Pointer[string]
	// extra tracks runs we start ourselves (cron tracks its own ticks).
	extra sync.WaitGroup

	started      chan struct{} // closed when Run is serving and scheduling
	shutdownBegs chan struct{} // closed when shutdown begins (for tests)

	mu         sync.Mutex
	runCtx     context.Context
	cancelRuns context.CancelFunc // cancels runs with cause ErrShutdown
	addr       net.Addr
	startRun   string // trigger of the run Run started at start, "" if none
	state      runState
}

// runState is what /healthz shows. Guarded by Scheduler.mu.
type runState struct {
	running      bool
	runningSince time.Time
	last         *lastRun
	lastSuccess  time.Time
}

type lastRun struct {
	Result     string    `json:"result"`
	Trigger    string    `json:"trigger"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Duration   float64   `json:"duration_seconds"`
	Error      string    `json:"error,omitempty"`
}

// New validates cfg and builds a Scheduler. Errors about the schedule name
// HUBSYNC_SCHEDULE, so that they can be shown to an operator as they are.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Job == nil {
		return nil, errors.New("schedule: Config.Job is required")
	}
	if cfg.ShutdownGrace < 0 {
		return nil, fmt.Errorf("schedule: shutdown grace must not be negative, got %s", cfg.ShutdownGrace)
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	spec := cfg.Schedule
	if spec == "" {
		spec = DefaultSchedule
	}
	sched, err := parseSchedule(spec)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("component", "schedule")
	cl := cronLogger{log}

	s := &Scheduler{
		cfg:          cfg,
		spec:         spec,
		sched:        sched,
		log:          log,
		started:      make(chan struct{}),
		shutdownBegs: make(chan struct{}),
	}
	s.runCtx, s.cancelRuns = withShutdownCause(context.Background())
	s.cron = cron.New(
		cron.WithParser(parser),
		cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)),
	)
	id := s.cron.Schedule(sched, cron.FuncJob(s.runOnce))
	s.tick = s.cron.Entry(id).WrappedJob
	s.mux = s.newMux()
	return s, nil
}

// parser accepts what the contract promises for HUBSYNC_SCHEDULE: five
// fields, an optional CRON_TZ= prefix, and descriptors (@hourly, @every).
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func parseSchedule(spec string) (cron.Schedule, error) {
	sched, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("HUBSYNC_SCHEDULE: invalid cron spec %q: %w", spec, err)
	}
	// A spec such as "0 0 30 2 *" parses but never fires; cron would then
	// sleep forever without a word.
	if sched.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("HUBSYNC_SCHEDULE: cron spec %q never fires", spec)
	}
	return sched, nil
}

// Started is closed once Run listens (when Config.Addr is set), has decided
// on the start-up run and has started the schedule. It never closes when
// Run fails to start (see Run's error).
func (s *Scheduler) Started() <-chan struct{} { return s.started }

// Addr is the address the HTTP server listens on, once Started is closed;
// nil before, or when Config.Addr is empty. With Config.Addr ":0" it tells
// which port was picked.
func (s *Scheduler) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run listens, runs the start-up run if one is due, and runs the Job on the
// schedule until ctx is cancelled. Then it stops scheduling, waits up to
// Config.ShutdownGrace for the run in flight, cancels that run's context if
// it is still going and waits for it to return, and shuts the HTTP server
// down. It returns nil on such a clean stop, and an error when the HTTP
// server cannot listen or fails while serving. Run may be called only once.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.runStarted.CompareAndSwap(false, true) {
		return errors.New("schedule: Run called more than once")
	}

	// Runs must outlive ctx by the grace, so their context keeps ctx's
	// values but not its cancellation.
	s.mu.Lock()
	s.cancelRuns()
	s.runCtx, s.cancelRuns = withShutdownCause(context.WithoutCancel(ctx))
	cancelRuns := s.cancelRuns
	s.mu.Unlock()
	defer cancelRuns()

	var srv *http.Server
	serveErr := make(chan error, 1)
	if s.cfg.Addr != "" {
		// Not ctx: a Run cancelled before it got going is a clean stop, not a
		// listen error.
		ln, err := (&net.ListenConfig{}).Listen(context.WithoutCancel(ctx), "tcp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("HUBSYNC_HTTP_ADDR: listen on %q: %w", s.cfg.Addr, err)
		}
		s.mu.Lock()
		s.addr = ln.Addr()
		s.mu.Unlock()
		srv = &http.Server{
			Handler:           s.mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		go func() { serveErr <- srv.Serve(ln) }()
		s.log.Info("serving metrics and health", "addr", ln.Addr().String())
	}

	if trigger := s.startupTrigger(ctx); trigger != "" {
		s.mu.Lock()
		s.startRun = trigger
		s.mu.Unlock()
		s.pendingTrigger.Store(&trigger)
		s.extra.Add(1)
		go func() {
			defer s.extra.Done()
			s.tick.Run()
		}()
	}
	s.cron.Start()
	s.log.Info("scheduler started", "schedule", s.spec, "next_run_at", s.sched.Next(time.Now()))
	close(s.started)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		// Serve only returns early on failure; stop everything and say so.
		runErr = fmt.Errorf("serve http on %s: %w", s.Addr(), err)
		s.log.Error("http server failed; stopping", "error", err)
	}

	s.drainRuns(cancelRuns)

	if srv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), httpShutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			s.log.Warn("http server did not shut down cleanly; closing it", "error", err)
			_ = srv.Close()
		}
		cancel()
		if runErr == nil {
			if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
				runErr = fmt.Errorf("serve http on %s: %w", s.Addr(), err)
			}
		}
	}
	s.log.Info("scheduler stopped")
	return runErr
}

// drainRuns stops scheduling and waits for the run in flight: up to the
// grace, then after cancelling its context.
func (s *Scheduler) drainRuns(cancelRuns context.CancelFunc) {
	s.mu.Lock()
	s.stopping.Store(true)
	inFlight := s.state.running
	s.mu.Unlock()
	close(s.shutdownBegs)
	cronDone := s.cron.Stop() // no new ticks; Done when cron's jobs returned
	done := make(chan struct{})
	go func() {
		<-cronDone.Done()
		s.extra.Wait()
		close(done)
	}()

	if inFlight {
		s.log.Info("shutting down: waiting for the sync run in flight", "grace", s.cfg.ShutdownGrace)
	} else {
		s.log.Info("shutting down")
	}

	grace := time.NewTimer(s.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
		if inFlight {
			s.log.Info("sync run in flight finished within the shutdown grace")
		}
	case <-grace.C:
		s.log.Warn("sync run still going after the shutdown grace; cancelling it", "grace", s.cfg.ShutdownGrace)
		cancelRuns()
		<-done
		s.log.Info("cancelled sync run returned")
	}
}

// startupTrigger decides whether Run starts with a run, and labels it.
func (s *Scheduler) startupTrigger(ctx context.Context) string {
	var (
		last time.Time
		ok   bool
		err  error
	)
	if s.cfg.LastSuccess != nil {
		lctx, cancel := context.WithTimeout(ctx, lastSuccessTimeout)
		last, ok, err = s.cfg.LastSuccess(lctx)
		cancel()
		if err == nil && ok {
			s.mu.Lock()
			if last.After(s.state.lastSuccess) {
				s.state.lastSuccess = last
			}
			s.mu.Unlock()
			if s.cfg.Metrics != nil {
				s.cfg.Metrics.LastSuccess.Set(float64(last.Unix()))
			}
		}
	}
	switch {
	case s.cfg.RunAtStart:
		s.log.Info("running a sync at start")
		return "start"
	case s.cfg.LastSuccess == nil:
		return ""
	case err != nil:
		if ctx.Err() != nil {
			return "" // shutting down already
		}
		s.log.Warn("cannot read the last successful sync; running a catch-up sync now", "error", err)
		return "catch-up"
	case !ok:
		s.log.Info("no successful sync recorded; running a catch-up sync now")
		return "catch-up"
	}
	now := time.Now()
	next := s.sched.Next(now)
	interval := s.sched.Next(next).Sub(next)
	if age := now.Sub(last); age > interval {
		s.log.Info("last successful sync is older than one schedule interval; running a catch-up sync now",
			"last_success_at", last, "age", age.Round(time.Second), "interval", interval)
		return "catch-up"
	}
	s.log.Debug("last successful sync is recent; no catch-up", "last_success_at", last, "interval", interval)
	return ""
}

// runOnce is the function cron calls on each tick, innermost in the chain.
// It recovers its own panics: in robfig/cron v3.0.1 a panic that unwinds
// through SkipIfStillRunning never gives back its token, and the job would
// be skipped forever after (robfig/cron#366).
func (s *Scheduler) runOnce() {
	trigger := "schedule"
	if p := s.pendingTrigger.Swap(nil); p != nil {
		trigger = *p
	}
	// Checked under mu, with drainRuns setting stopping under mu too, so that
	// shutdown either sees this run as in flight or this run sees shutdown.
	s.mu.Lock()
	if s.stopping.Load() {
		s.mu.Unlock()
		s.log.Info("shutting down; sync run not started", "trigger", trigger)
		return
	}
	ctx := s.runCtx
	start := time.Now()
	s.state.running = true
	s.state.runningSince = start
	s.mu.Unlock()

	result, err := s.callJob(ctx)
	finished := time.Now()
	d := finished.Sub(start)

	switch result {
	case ResultSucceeded, ResultPartial, ResultFailed, ResultSkipped:
	case "":
		result = ResultSucceeded
		if err != nil {
			result = ResultFailed
		}
	default:
		s.log.Warn("sync job returned an unknown result; counting it as failed", "result", result)
		result = ResultFailed
	}

	s.mu.Lock()
	s.state.running = false
	s.state.runningSince = time.Time{}
	lr := &lastRun{Result: result, Trigger: trigger, StartedAt: start, FinishedAt: finished, Duration: d.Seconds()}
	if err != nil {
		lr.Error = err.Error()
	}
	s.state.last = lr
	if result == ResultSucceeded {
		s.state.lastSuccess = finished
	}
	s.mu.Unlock()

	attrs := []any{"result", result, "trigger", trigger, "duration", d}
	if err != nil {
		attrs = append(attrs, "error", err)
	}
	if result == ResultSkipped {
		s.cfg.Metrics.RunSkipped()
		s.log.Info("sync skipped: another replica holds the lock", attrs...)
		return
	}
	// Metrics first, then the log line: whoever reads the line (an operator,
	// a test) finds /metrics already telling the same story.
	s.cfg.Metrics.RunFinished(result, d, finished)
	switch {
	case result == ResultSucceeded:
		s.log.Info("sync run finished", attrs...)
	case result == ResultPartial, errors.Is(err, context.Canceled):
		// A run cancelled by shutdown is expected, not an error.
		s.log.Warn("sync run finished", attrs...)
	default:
		s.log.Error("sync run finished", attrs...)
	}
}

// callJob runs the Job and turns a panic into a failed result.
func (s *Scheduler) callJob(ctx context.Context) (result string, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("sync run panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			result, err = ResultFailed, fmt.Errorf("sync run panicked: %v", r)
		}
	}()
	return s.cfg.Job(ctx)
}

// cronLogger adapts slog to cron.Logger. cron narrates every wake-up at
// Info; that is Debug for us. A skipped tick is worth a warning: the sync
// takes longer than the schedule allows.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, keysAndValues ...any) {
	if msg == "skip" {
		c.l.Warn("previous sync run still going; tick skipped")
		return
	}
	c.l.Debug("cron: "+msg, keysAndValues...)
}

func (c cronLogger) Error(err error, msg string, keysAndValues ...any) {
	c.l.Error("cron: "+msg, append([]any{"error", err}, keysAndValues...)...)
}

// ErrShutdown is the cause of a run's cancellation when shutdown's grace
// period ran out; a Job's error then says "shutdown".
var ErrShutdown = errors.New("shutdown")

func withShutdownCause(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	return ctx, func() { cancel(ErrShutdown) }
}
