package schedule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /metrics (when Config.Metrics is set), /healthz and
// /readyz. Run serves it on Config.Addr; use it directly to mount the
// endpoints elsewhere or in tests.
func (s *Scheduler) Handler() http.Handler { return s.mux }

func (s *Scheduler) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Metrics.Registry, promhttp.HandlerOpts{
			ErrorLog:      promErrorLog{s},
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("GET /readyz", s.serveReady)
	return mux
}

// health is the /healthz body: liveness plus what an operator wants to see
// at a glance. Times are null when unknown.
type health struct {
	// Status is "ok", or "stopping" during shutdown; both answer 200, since
	// the process is alive and draining on purpose.
	Status        string     `json:"status"`
	Schedule      string     `json:"schedule"`
	Running       bool       `json:"running"`
	RunningSince  *time.Time `json:"running_since,omitempty"`
	LastRun       *lastRun   `json:"last_run"`
	LastSuccessAt *time.Time `json:"last_success_at"`
	NextRunAt     *time.Time `json:"next_run_at"`
}

func (s *Scheduler) health() health {
	h := health{Status: "ok", Schedule: s.spec}
	if s.stopping.Load() {
		h.Status = "stopping"
	}
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	h.Running = st.running
	if st.running {
		h.RunningSince = &st.runningSince
	}
	if st.last != nil {
		lr := *st.last
		h.LastRun = &lr
	}
	if !st.lastSuccess.IsZero() {
		h.LastSuccessAt = &st.lastSuccess
	}
	// Next run is known only while the schedule runs.
	if s.runStarted.Load() && !s.stopping.Load() {
		next := s.sched.Next(time.Now())
		h.NextRunAt = &next
	}
	return h
}

func (s *Scheduler) serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.health()) // the client went away; nothing to do
}

func (s *Scheduler) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.stopping.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: shutting down")
		return
	}
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.log.Debug("readiness check failed", "error", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
	}
	fmt.Fprintln(w, "ready")
}

// promErrorLog sends promhttp's gathering errors to our logger.
type promErrorLog struct{ s *Scheduler }

func (l promErrorLog) Println(v ...any) {
	l.s.log.Warn("metrics: " + fmt.Sprint(v...))
}
