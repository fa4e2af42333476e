package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hubsync/hubsync/sync/metrics"
)

// yearly never ticks during a test, so only the runs a test starts happen.
const yearly = "0 0 1 1 *"

// timeout is how long a test waits for a signal before failing: generous,
// since waiting on a channel costs nothing when things work.
const timeout = 10 * time.Second

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
		var zero T
		return zero
	}
}

// runner runs s in the background and stops it at the end of the test.
type runner struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func startRun(t *testing.T, s *Scheduler) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	select {
	case <-s.Started():
	case err := <-r.done:
		cancel()
		t.Fatalf("Run returned before starting: %v", err)
	case <-time.After(timeout):
		cancel()
		t.Fatalf("timed out waiting for Run to start")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run's context and returns what Run returned.
func (r *runner) stop(t *testing.T) error {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		r.err = waitFor(t, r.done, "Run to return after cancel")
	})
	return r.err
}

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger(buf io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newScheduler(t *testing.T, cfg Config) *Scheduler {
	t.Helper()
	if cfg.Schedule == "" {
		cfg.Schedule = yearly
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(io.Discard)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// succeed is a Job that reports each call on calls.
func succeed(calls chan<- struct{}) Job {
	return func(context.Context) (string, error) {
		calls <- struct{}{}
		return ResultSucceeded, nil
	}
}

func runsTotal(m *metrics.Metrics, result string) float64 {
	return testutil.ToFloat64(m.Runs.WithLabelValues(result))
}

func getHealth(t *testing.T, s *Scheduler) health {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/healthz: want 200, got %d: %s", rec.Code, rec.Body)
	}
	var h health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatalf("/healthz: body is not JSON: %v\n%s", err, rec.Body)
	}
	return h
}

func TestNewValidatesSchedule(t *testing.T) {
	t.Parallel()
	job := func(context.Context) (string, error) { return ResultSucceeded, nil }

	for _, spec := range []string{
		"nonsense",
		"* * * *",
		"* * * * * *",
		"61 * * * *",
		"*/0 * * * *",
		"CRON_TZ=Nowhere/Special * * * * *",
		"@fortnightly",
		"0 0 30 2 *", // parses, but February has no 30th
	} {
		_, err := New(Config{Schedule: spec, Job: job})
		if err == nil {
			t.Errorf("New(Schedule: %q): want an error, got nil", spec)
			continue
		}
		if !strings.HasPrefix(err.Error(), "HUBSYNC_SCHEDULE: ") {
			t.Errorf("New(Schedule: %q): want an error naming HUBSYNC_SCHEDULE, got %q", spec, err)
		}
	}

	for _, spec := range []string{"", "*/15 * * * *", "CRON_TZ=UTC 0 3 * * 1-5", "@hourly", "@every 10m"} {
		if _, err := New(Config{Schedule: spec, Job: job}); err != nil {
			t.Errorf("New(Schedule: %q): want no error, got %v", spec, err)
		}
	}

	if _, err := New(Config{Schedule: yearly}); err == nil {
		t.Errorf("New without a Job: want an error, got nil")
	}
	if _, err := New(Config{Schedule: yearly, Job: job, ShutdownGrace: -time.Second}); err == nil {
		t.Errorf("New with a negative ShutdownGrace: want an error, got nil")
	}
}

func TestRunAtStart(t *testing.T) {
	t.Parallel()
	calls := make(chan struct{}, 10)
	m := metrics.New()
	s := newScheduler(t, Config{Job: succeed(calls), RunAtStart: true, Metrics: m})
	r := startRun(t, s)

	waitFor(t, calls, "the run at start")
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: want nil after cancel, got %v", err)
	}
	if got := runsTotal(m, ResultSucceeded); got != 1 {
		t.Errorf("hubsync_sync_runs_total{result=succeeded}: want 1, got %v", got)
	}
	h := getHealth(t, s)
	if h.LastRun == nil || h.LastRun.Result != ResultSucceeded || h.LastRun.Trigger != "start" {
		t.Errorf("/healthz last_run: want succeeded with trigger start, got %+v", h.LastRun)
	}
	if h.LastSuccessAt == nil {
		t.Errorf("/healthz last_success_at: want the run's end, got null")
	}
}

func TestCatchUpAtStart(t *testing.T) {
	t.Parallel()
	recent := time.Now().Add(-10 * time.Minute)
	for _, tc := range []struct {
		name    string
		last    time.Time
		ok      bool
		err     error
		wantRun bool
	}{
		{name: "overdue", last: time.Now().Add(-2 * time.Hour), ok: true, wantRun: true},
		{name: "never succeeded", wantRun: true},
		{name: "unknown", err: errors.New("db unreachable"), wantRun: true},
		{name: "recent", last: recent, ok: true, wantRun: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := make(chan struct{}, 10)
			s := newScheduler(t, Config{
				Schedule: "@every 1h",
				Job:      succeed(calls),
				LastSuccess: func(context.Context) (time.Time, bool, error) {
					return tc.last, tc.ok, tc.err
				},
			})
			r := startRun(t, s)

			s.mu.Lock()
			trigger := s.startRun
			s.mu.Unlock()
			if tc.wantRun {
				if trigger != "catch-up" {
					t.Errorf("start-up run: want a catch-up run, got %q", trigger)
				}
				waitFor(t, calls, "the catch-up run")
			} else if trigger != "" {
				t.Errorf("start-up run: want none (last success %s is within the 1h interval), got %q", tc.last, trigger)
			}
			if err := r.stop(t); err != nil {
				t.Fatalf("Run: want nil after cancel, got %v", err)
			}
			if !tc.wantRun && len(calls) != 0 {
				t.Errorf("job calls: want 0, got %d", len(calls))
			}
			if tc.name == "recent" {
				h := getHealth(t, s)
				if h.LastSuccessAt == nil || !h.LastSuccessAt.Equal(recent) {
					t.Errorf("/healthz last_success_at: want %s from LastSuccess, got %v", recent, h.LastSuccessAt)
				}
			}
		})
	}
}

func TestRunAtStartSkipsCatchUpCheck(t *testing.T) {
	t.Parallel()
	calls := make(chan struct{}, 10)
	s := newScheduler(t, Config{
		Job:        succeed(calls),
		RunAtStart: true,
		LastSuccess: func(context.Context) (time.Time, bool, error) {
			return time.Time{}, false, nil // would ask for a catch-up too
		},
	})
	r := startRun(t, s)
	waitFor(t, calls, "the run at start")
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(calls) != 0 {
		t.Errorf("job calls: want exactly 1 (no catch-up on top of the run at start), got %d", 1+len(calls))
	}
}

// A panic must neither silence later ticks (robfig/cron#366) nor go
// uncounted. s.tick is exactly what cron calls on each tick.
func TestPanickingJobKeepsTicking(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	m := metrics.New()
	logs := &syncBuffer{}
	s := newScheduler(t, Config{
		Metrics: m,
		Logger:  testLogger(logs),
		Job: func(context.Context) (string, error) {
			if n.Add(1) == 1 {
				panic("boom")
			}
			return ResultSucceeded, nil
		},
	})

	s.tick.Run()
	if got := runsTotal(m, ResultFailed); got != 1 {
		t.Errorf("after a panicking run, hubsync_sync_runs_total{result=failed}: want 1, got %v", got)
	}
	if h := getHealth(t, s); h.LastRun == nil || h.LastRun.Result != ResultFailed || !strings.Contains(h.LastRun.Error, "boom") {
		t.Errorf("/healthz last_run after a panic: want failed mentioning boom, got %+v", h.LastRun)
	}
	if out := logs.String(); !strings.Contains(out, "sync run panicked") || !strings.Contains(out, "goroutine") {
		t.Errorf("logs: want the panic with its stack, got:\n%s", out)
	}

	s.tick.Run()
	if got := n.Load(); got != 2 {
		t.Fatalf("job calls after two ticks: want 2, got %d (the panic silenced the job)", got)
	}
	if got := runsTotal(m, ResultSucceeded); got != 1 {
		t.Errorf("hubsync_sync_runs_total{result=succeeded}: want 1, got %v", got)
	}
}

// The same, driven by cron's own clock.
func TestPanickingJobKeepsTickingUnderCron(t *testing.T) {
	t.Parallel()
	calls := make(chan int32, 10)
	var n atomic.Int32
	m := metrics.New()
	s := newScheduler(t, Config{
		Schedule: "@every 1s",
		Metrics:  m,
		Job: func(context.Context) (string, error) {
			i := n.Add(1)
			calls <- i
			if i == 1 {
				panic("boom")
			}
			return ResultSucceeded, nil
		},
	})
	r := startRun(t, s)
	waitFor(t, calls, "tick 1")
	waitFor(t, calls, "tick 2 after the panic on tick 1")
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := runsTotal(m, ResultFailed); got != 1 {
		t.Errorf("hubsync_sync_runs_total{result=failed}: want 1, got %v", got)
	}
}

func TestSlowRunIsNotOverlapped(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	var running, maxRunning atomic.Int32
	s := newScheduler(t, Config{
		Job: func(context.Context) (string, error) {
			if r := running.Add(1); r > maxRunning.Load() {
				maxRunning.Store(r)
			}
			defer running.Add(-1)
			started <- struct{}{}
			<-release
			return ResultSucceeded, nil
		},
	})

	first := make(chan struct{})
	go func() {
		defer close(first)
		s.tick.Run()
	}()
	waitFor(t, started, "the slow run to start")

	s.tick.Run() // must return at once: the slow run holds the token
	if len(started) != 0 {
		t.Fatalf("a second tick started a run while the first was still going")
	}
	close(release)
	waitFor(t, first, "the slow run to finish")

	s.tick.Run() // the token is back
	waitFor(t, started, "the next tick's run")
	if got := maxRunning.Load(); got != 1 {
		t.Errorf("concurrent runs: want at most 1, got %d", got)
	}
}

func TestShutdownWaitsForRunInFlight(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	ctxErr := make(chan error, 1)
	m := metrics.New()
	s := newScheduler(t, Config{
		RunAtStart:    true,
		ShutdownGrace: time.Minute,
		Metrics:       m,
		Job: func(ctx context.Context) (string, error) {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			ctxErr <- ctx.Err()
			return ResultSucceeded, nil
		},
	})
	r := startRun(t, s)
	waitFor(t, started, "the run at start")

	r.cancel()
	waitFor(t, s.shutdownBegs, "shutdown to begin")
	select {
	case err := <-r.done:
		t.Fatalf("Run returned (%v) while a run was in flight within the grace", err)
	default:
	}
	close(release)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: want nil, got %v", err)
	}
	if err := waitFor(t, ctxErr, "the run's end"); err != nil {
		t.Errorf("run context: want it left alone within the grace, got %v", err)
	}
	if got := runsTotal(m, ResultSucceeded); got != 1 {
		t.Errorf("hubsync_sync_runs_total{result=succeeded}: want 1, got %v", got)
	}
}

func TestShutdownCancelsRunAfterGrace(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	ctxErr := make(chan error, 1)
	m := metrics.New()
	logs := &syncBuffer{}
	s := newScheduler(t, Config{
		RunAtStart:    true,
		ShutdownGrace: 50 * time.Millisecond,
		Metrics:       m,
		Logger:        testLogger(logs),
		Job: func(ctx context.Context) (string, error) {
			started <- struct{}{}
			<-ctx.Done() // only cancellation ends this run
			ctxErr <- ctx.Err()
			return ResultFailed, ctx.Err()
		},
	})
	r := startRun(t, s)
	waitFor(t, started, "the run at start")

	if err := r.stop(t); err != nil {
		t.Fatalf("Run: want nil after cancelling the run, got %v", err)
	}
	if err := waitFor(t, ctxErr, "the run's end"); !errors.Is(err, context.Canceled) {
		t.Errorf("run context after the grace: want context.Canceled, got %v", err)
	}
	if got := runsTotal(m, ResultFailed); got != 1 {
		t.Errorf("hubsync_sync_runs_total{result=failed}: want 1, got %v", got)
	}
	out := logs.String()
	if !strings.Contains(out, "cancelling it") {
		t.Errorf("logs: want the cancellation after the grace logged, got:\n%s", out)
	}
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("logs: a run cancelled by shutdown must not be logged as an error, got:\n%s", out)
	}
}

func TestSkippedRun(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	logs := &syncBuffer{}
	s := newScheduler(t, Config{
		Metrics: m,
		Logger:  testLogger(logs),
		Job:     func(context.Context) (string, error) { return ResultSkipped, nil },
	})
	s.tick.Run()
	if got := testutil.ToFloat64(m.SkippedRuns); got != 1 {
		t.Errorf("hubsync_sync_runs_skipped_total: want 1, got %v", got)
	}
	if got := testutil.CollectAndCount(m.Runs); got != 0 {
		t.Errorf("hubsync_sync_runs_total series: want none for a skip, got %d", got)
	}
	if out := logs.String(); !strings.Contains(out, "sync skipped: another replica holds the lock") {
		t.Errorf("logs: want the skip logged, got:\n%s", out)
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	calls := make(chan struct{}, 10)
	s := newScheduler(t, Config{Job: succeed(calls)})

	h := getHealth(t, s)
	if h.Status != "ok" || h.LastRun != nil || h.LastSuccessAt != nil || h.Schedule != yearly {
		t.Errorf("/healthz before any run: want ok, no run, no success, schedule %q, got %+v", yearly, h)
	}

	s.tick.Run()
	h = getHealth(t, s)
	if h.LastRun == nil || h.LastRun.Result != ResultSucceeded || h.LastRun.Trigger != "schedule" {
		t.Errorf("/healthz last_run: want succeeded by schedule, got %+v", h.LastRun)
	}
	if h.LastSuccessAt == nil || h.LastRun == nil || !h.LastSuccessAt.Equal(h.LastRun.FinishedAt) {
		t.Errorf("/healthz last_success_at: want the run's end, got %v", h.LastSuccessAt)
	}
}

// Run serves the handler on Config.Addr, with the next run visible.
func TestServesOnAddr(t *testing.T) {
	t.Parallel()
	s := newScheduler(t, Config{
		Addr: "127.0.0.1:0",
		Job:  func(context.Context) (string, error) { return ResultSucceeded, nil },
	})
	r := startRun(t, s)
	if s.Addr() == nil {
		t.Fatalf("Addr after Started: want the listening address, got nil")
	}
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get("http://" + s.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("/healthz body: %v", err)
	}
	if resp.StatusCode != http.StatusOK || h.Status != "ok" {
		t.Errorf("/healthz: want 200 ok, got %d %+v", resp.StatusCode, h)
	}
	if h.NextRunAt == nil || !h.NextRunAt.After(time.Now()) {
		t.Errorf("/healthz next_run_at: want a time in the future, got %v", h.NextRunAt)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := client.Get("http://" + s.Addr().String() + "/healthz"); err == nil {
		t.Errorf("GET /healthz after Run returned: want the server gone, got an answer")
	}
}

func TestRunFailsWhenAddrIsTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := newScheduler(t, Config{
		Addr: ln.Addr().String(),
		Job:  func(context.Context) (string, error) { return ResultSucceeded, nil },
	})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = s.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "HUBSYNC_HTTP_ADDR") {
		t.Errorf("Run on a taken address: want an error naming HUBSYNC_HTTP_ADDR, got %v", err)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	var readyErr atomic.Pointer[error]
	notReady := errors.New("database unreachable")
	readyErr.Store(&notReady)
	s := newScheduler(t, Config{
		Job: func(context.Context) (string, error) { return ResultSucceeded, nil },
		Ready: func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("readiness check got no deadline")
			}
			if p := readyErr.Load(); p != nil {
				return *p
			}
			return nil
		},
	})
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec
	}

	rec := get()
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "database unreachable") {
		t.Errorf("/readyz while not ready: want 503 with the reason, got %d %q", rec.Code, rec.Body)
	}
	readyErr.Store(nil)
	rec = get()
	if rec.Code != http.StatusOK {
		t.Errorf("/readyz when ready: want 200, got %d %q", rec.Code, rec.Body)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s := newScheduler(t, Config{
		Metrics: m,
		Job:     func(context.Context) (string, error) { return ResultPartial, errors.New("mass-removal guard") },
	})
	s.tick.Run()

	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: want 200, got %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`hubsync_sync_runs_total{result="partial"} 1`,
		`hubsync_sync_run_duration_seconds_count 1`,
		`hubsync_last_run_success 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics: want a line %q, got:\n%s", want, body)
		}
	}
}

func TestNoMetricsNoEndpoint(t *testing.T) {
	t.Parallel()
	s := newScheduler(t, Config{Job: func(context.Context) (string, error) { return ResultSucceeded, nil }})
	s.tick.Run() // a nil *metrics.Metrics records nothing, and must not panic
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/metrics without Metrics: want 404, got %d", rec.Code)
	}
}

func TestRunWithCancelledContextStopsCleanly(t *testing.T) {
	t.Parallel()
	calls := make(chan struct{}, 10)
	s := newScheduler(t, Config{Addr: "127.0.0.1:0", Job: succeed(calls)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Errorf("Run with a cancelled context: want nil, got %v", err)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Errorf("second Run: want an error, got nil")
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after shutdown: want 503, got %d", rec.Code)
	}
}
