package hubapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPacerHalvesAndClimbsBack(t *testing.T) {
	t.Parallel()
	p := NewPacer(10)
	p.cooldown = 0
	if got := p.Limit(); got != 10 {
		t.Fatalf("initial limit: expected 10, got %v", got)
	}
	p.Throttled(0)
	if got := p.Limit(); got != 5 {
		t.Fatalf("after one 429: expected 5, got %v", got)
	}
	p.Throttled(0)
	if got := p.Limit(); got != 2.5 {
		t.Fatalf("after two 429s: expected 2.5, got %v", got)
	}
	for range 10 {
		p.Throttled(0)
	}
	if got := p.Limit(); got != minPacerRate {
		t.Fatalf("after many 429s: expected the floor %v, got %v", minPacerRate, got)
	}
	prev := p.Limit()
	n := 0
	for ; n < 10000 && p.Limit() < 10; n++ {
		p.Succeeded()
		if got := p.Limit(); got < prev {
			t.Fatalf("success %d: expected the limit not to fall, got %v after %v", n, got, prev)
		}
		prev = p.Limit()
	}
	if got := p.Limit(); got != 10 {
		t.Fatalf("after %d successes: expected to climb back to 10, got %v", n, got)
	}
	if n < 20 {
		t.Errorf("climb: expected a gradual (additive) increase over 20+ successes, got back to the ceiling after %d", n)
	}
	p.Succeeded()
	if got := p.Limit(); got != 10 {
		t.Errorf("at the ceiling: expected to stay at 10, got %v", got)
	}
}

func TestPacerHalvesOncePerCongestionEvent(t *testing.T) {
	t.Parallel()
	p := NewPacer(8)
	p.Throttled(time.Minute)
	p.Throttled(time.Minute) // an in-flight request answered 429 too
	p.Throttled(0)
	if got := p.Limit(); got != 4 {
		t.Errorf("three 429s in one burst: expected one halving to 4, got %v", got)
	}
	if d := time.Until(p.PausedUntil()); d < 50*time.Second {
		t.Errorf("pause: expected about a minute left, got %v", d)
	}
}

func TestPacerPauseBlocksWait(t *testing.T) {
	t.Parallel()
	p := NewPacer(0) // unlimited rate still honours pauses
	start := time.Now()
	p.Throttled(300 * time.Millisecond)
	if err := p.Wait(context.Background()); err != nil {
		t.Fatalf("Wait: expected no error, got %v", err)
	}
	if got := time.Since(start); got < 280*time.Millisecond {
		t.Errorf("Wait: expected to block at least ~300ms, returned after %v", got)
	}
	if got := p.Limit(); got != 0 {
		t.Errorf("unlimited pacer: expected Limit 0, got %v", got)
	}
}

func TestPacerWaitHonoursContext(t *testing.T) {
	t.Parallel()
	p := NewPacer(1)
	p.Throttled(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Wait(ctx) }()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Wait: expected context.Canceled, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait: expected to return on cancel, still blocked after 5s")
	}

	// Also while waiting for a rate slot, not only during a pause.
	q := NewPacer(0.001)
	if err := q.Wait(context.Background()); err != nil { // uses the one burst token
		t.Fatalf("first Wait: expected no error, got %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := q.Wait(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Wait: expected context.DeadlineExceeded, got %v", err)
	}
}

func TestPacerSpacesRequests(t *testing.T) {
	t.Parallel()
	p := NewPacer(20)
	start := time.Now()
	for range 5 {
		if err := p.Wait(context.Background()); err != nil {
			t.Fatalf("Wait: expected no error, got %v", err)
		}
	}
	// 1 burst token, then 4 more at 20/s: at least 200ms.
	if got := time.Since(start); got < 190*time.Millisecond {
		t.Errorf("5 waits at 20/s: expected at least ~200ms, got %v", got)
	}
}
