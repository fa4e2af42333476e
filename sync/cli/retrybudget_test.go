package cli_test

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hubsync/hubsync/sync/cli"
	"github.com/hubsync/hubsync/sync/fakehub"
)

// failLists answers the first n list requests (all of them when n < 0)
// with 503 and counts every list request it sees.
func failLists(n int64) (fakehub.Fault, *atomic.Int64) {
	var seen atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/clients") {
			return false
		}
		if k := seen.Add(1); n >= 0 && k > n {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"meta":{"developer_message":"Service Unavailable","http_code":503,"success":false}}`))
		return true
	}, &seen
}

// TestRetryBudget: HUBSYNC_RETRY_BUDGET (or --retry-budget) bounds how long
// one API call spends on failed attempts and their waits. The first retry
// waits at least half the initial backoff (the other half is jitter), so a budget below
// that gives a call exactly one attempt, and a budget of 1s at most three;
// a generous budget lets a failing call be retried until it succeeds.
func TestRetryBudget(t *testing.T) {
	t.Parallel()

	t.Run("a list that always fails is given up after the budget", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{})
		fault, seen := failLists(-1)
		h.hub.SetFault(fault)
		h.env["HUBSYNC_RETRY_BUDGET"] = "200ms"
		code, out, errs := h.run(context.Background(), "sync")
		if code != cli.ExitFailed {
			t.Fatalf("sync against an API that always answers 503 exited %d, want %d\nstdout:\n%s\nstderr:\n%s", code, cli.ExitFailed, out, errs)
		}
		if n := seen.Load(); n != 1 {
			t.Errorf("with a 200ms budget the list was requested %d times; want 1 (the first retry waits at least 250ms)", n)
		}
		if !strings.Contains(errs, "503") {
			t.Errorf("the failure does not say what the API answered (503):\n%s", errs)
		}
		if n := h.count(`SELECT count(*) FROM hub.clients`); n != 0 {
			t.Errorf("a failed run stored %d clients; want 0", n)
		}

		// The flag overrides the variable: with 1s, a few attempts and no more.
		fault, seen = failLists(-1)
		h.hub.SetFault(fault)
		code, out, errs = h.run(context.Background(), "sync", "--retry-budget", "1s")
		if code != cli.ExitFailed {
			t.Fatalf("sync --retry-budget 1s against an API that always fails exited %d, want %d\nstdout:\n%s\nstderr:\n%s", code, cli.ExitFailed, out, errs)
		}
		if n := seen.Load(); n < 1 || n > 3 {
			t.Errorf("with a 1s budget the list was requested %d times; want 1 to 3 (waits of at least 250ms, 375ms and 562ms)", n)
		}
	})

	t.Run("a call that recovers within the budget succeeds", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{})
		fault, seen := failLists(1)
		h.hub.SetFault(fault)
		h.env["HUBSYNC_RETRY_BUDGET"] = "30s"
		out := h.sync(cli.ExitOK)
		if n := seen.Load(); n < 2 {
			t.Errorf("list requested %d times; want the failed first request retried", n)
		}
		if !strings.Contains(out, "1 retries") {
			t.Errorf("summary does not count the retry:\n%s", out)
		}

		// The same failure with a budget too small to wait for a retry.
		fault, seen = failLists(1)
		h.hub.SetFault(fault)
		h.env["HUBSYNC_RETRY_BUDGET"] = "100ms"
		h.sync(cli.ExitFailed)
		if n := seen.Load(); n != 1 {
			t.Errorf("with a 100ms budget the list was requested %d times; want 1", n)
		}
	})

	t.Run("a malformed budget is a configuration error", func(t *testing.T) {
		t.Parallel()
		for _, v := range []string{"soon", "0", "-5s", "10"} {
			code, _, errs := (&harness{t: t, env: map[string]string{"HUBSYNC_RETRY_BUDGET": v}}).run(context.Background(), "sync")
			if code != cli.ExitUsage || !strings.Contains(errs, "HUBSYNC_RETRY_BUDGET") {
				t.Errorf("HUBSYNC_RETRY_BUDGET=%q: exit %d, stderr %q; want %d naming the setting", v, code, errs, cli.ExitUsage)
			}
		}
	})
}

// TestSyncShowsRetriesOnTerminal: on a terminal, `hubsync sync` shows the
// API's retries and 429s on its progress line.
func TestSyncShowsRetriesOnTerminal(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{})
	var lists atomic.Int64
	h.hub.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/clients") {
			return false
		}
		switch lists.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		case 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"sync"}, cli.Env{
		Getenv: func(k string) string { return h.env[k] },
		Stdout: &out, Stderr: &errb,
		Terminal: func() bool { return true },
	})
	if code != cli.ExitOK {
		t.Fatalf("sync exited %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	if !regexp.MustCompile(`\d+ requests, 2 retries \(1 throttled\)`).MatchString(errb.String()) {
		t.Errorf("the progress line never showed 2 retries (1 throttled); terminal output:\n%q", errb.String())
	}
}
