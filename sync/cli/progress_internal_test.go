package cli

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubsync/hubsync/sync/hubapi"
	"github.com/hubsync/hubsync/sync/syncer"
)

// fakeTerminal is a one-line terminal: a carriage return moves back to the
// start of the line, and each Write (one redraw) records what the line then
// shows.
type fakeTerminal struct {
	mu     sync.Mutex
	line   []rune
	col    int
	shown  []string
	drawn  chan struct{} // receives after every Write, if set
	closed atomic.Bool
}

func (f *fakeTerminal) Write(p []byte) (int, error) {
	f.mu.Lock()
	for _, r := range string(p) {
		if r == '\r' {
			f.col = 0
			continue
		}
		if f.col < len(f.line) {
			f.line[f.col] = r
		} else {
			f.line = append(f.line, r)
		}
		f.col++
	}
	f.shown = append(f.shown, strings.TrimRight(string(f.line), " "))
	f.mu.Unlock()
	if f.drawn != nil && !f.closed.Load() {
		select {
		case f.drawn <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// screen returns what the line shows now.
func (f *fakeTerminal) screen() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.TrimRight(string(f.line), " ")
}

// TestProgressLineShowsRetries: the progress line shows the API client's
// requests, retries and 429s so far, before the first page and after,
// and a redraw without a new page picks up new retries and the time.
func TestProgressLineShowsRetries(t *testing.T) {
	t.Parallel()
	term := &fakeTerminal{}
	var mu sync.Mutex
	st := hubapi.Stats{Requests: 1234, Retries: 17, Throttled: 3}
	stats := func() hubapi.Stats { mu.Lock(); defer mu.Unlock(); return st }
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := newProgressLine(term, stats, clock)

	p.redraw()
	if got, want := term.screen(), "starting  1,234 requests, 17 retries (3 throttled)  0s"; got != want {
		t.Errorf("before the first page the line shows %q, want %q", got, want)
	}

	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	p.update(syncer.Progress{RunID: 7, Pages: 2, Clients: 200, Total: 1000, Channels: 480, Requests: 1234})
	if got, want := term.screen(), "run 7  page 2  clients 200/1,000 (20%)  channels 480  1,234 requests, 17 retries (3 throttled)  10s  ETA 40s"; got != want {
		t.Errorf("after a page the line shows\n%q, want\n%q", got, want)
	}

	// A call being retried: no page is written, the counters move on.
	mu.Lock()
	st = hubapi.Stats{Requests: 1240, Retries: 23, Throttled: 9}
	now = now.Add(65 * time.Second)
	mu.Unlock()
	p.redraw()
	if got, want := term.screen(), "run 7  page 2  clients 200/1,000 (20%)  channels 480  1,240 requests, 23 retries (9 throttled)  1m15s  ETA 5m0s"; got != want {
		t.Errorf("after a redraw without a page the line shows\n%q, want\n%q", got, want)
	}

	// Without a total (an API that does not send one), no share or ETA.
	p.update(syncer.Progress{RunID: 7, Pages: 3, Clients: 300, Channels: 700})
	if got, want := term.screen(), "run 7  page 3  clients 300  channels 700  1,240 requests, 23 retries (9 throttled)  1m15s"; got != want {
		t.Errorf("without a total the line shows\n%q, want\n%q", got, want)
	}

	p.clear()
	if got := term.screen(); got != "" {
		t.Errorf("after clear the line shows %q, want nothing", got)
	}
}

// TestProgressLineRedrawsOnTicker: while no page is written, the line is
// still redrawn, so a call being retried for minutes shows its retries.
func TestProgressLineRedrawsOnTicker(t *testing.T) {
	t.Parallel()
	term := &fakeTerminal{drawn: make(chan struct{}, 1)}
	var retries atomic.Int64
	p := newProgressLine(term, func() hubapi.Stats {
		return hubapi.Stats{Requests: retries.Load() + 1, Retries: retries.Add(1)}
	}, time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.run(ctx, time.Millisecond) }()
	for range 3 {
		<-term.drawn
	}
	cancel()
	<-done
	term.closed.Store(true)
	got := term.screen()
	if !strings.Contains(got, "retries (0 throttled)") || strings.Contains(got, " 0 retries") {
		t.Errorf("after redraws on the ticker the line shows %q; want the retries counted so far", got)
	}
	if n := len(term.shown); n < 3 {
		t.Errorf("the ticker drew %d times; want at least 3", n)
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
