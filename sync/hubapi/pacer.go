package hubapi

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pacer spaces requests and adapts their rate to the server's 429 answers,
// for all goroutines sharing it (AIMD, as in TCP congestion control):
//
//   - It starts at its ceiling, the limit given to NewPacer.
//   - Throttled (a 429) halves the rate, down to a floor of 0.5 requests/s
//     (or the ceiling, if lower), and pauses every Wait until the server's
//     Retry-After has passed. 429s that arrive during that pause, or within
//     a second of the previous halving, are answers to requests sent before
//     the slowdown: they extend the pause but do not halve again.
//   - Succeeded raises the rate additively, by about a twentieth of the
//     ceiling per second of successful traffic, back up to the ceiling.
//
// A Pacer with no ceiling (limit 0) never limits the rate but still honours
// the pauses. The zero value is not usable; call NewPacer. A Pacer is safe
// for concurrent use.
type Pacer struct {
	ceiling float64 // 0 = unlimited
	floor   float64
	lim     *rate.Limiter

	// cooldown is the minimum time between two halvings.
	cooldown time.Duration
	now      func() time.Time

	mu           sync.Mutex
	cur          float64
	pauseUntil   time.Time
	lastDecrease time.Time
	pauseCh      chan struct{} // closed and replaced whenever pauseUntil moves
}

// minPacerRate is the floor of the multiplicative decrease.
const minPacerRate = 0.5

// NewPacer returns a Pacer allowing at most limit requests per second; 0
// (or less) means no limit.
func NewPacer(limit float64) *Pacer {
	p := &Pacer{cooldown: time.Second, now: time.Now, pauseCh: make(chan struct{})}
	if limit > 0 && !math.IsInf(limit, 1) && !math.IsNaN(limit) {
		p.ceiling = limit
		p.floor = min(minPacerRate, limit)
		p.cur = limit
		p.lim = rate.NewLimiter(rate.Limit(limit), 1)
	}
	return p
}

// Limit reports the current rate in requests per second; 0 means unlimited.
func (p *Pacer) Limit() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// PausedUntil reports until when Wait holds every caller back after a 429;
// it is in the past when there is no pause.
func (p *Pacer) PausedUntil() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pauseUntil
}

// Wait blocks until the caller may send a request: after any pause, and
// when the rate allows. It returns ctx's error if ctx ends first.
func (p *Pacer) Wait(ctx context.Context) error {
	if err := p.waitPause(ctx); err != nil {
		return err
	}
	if p.lim != nil {
		r := p.lim.Reserve()
		if d := r.Delay(); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				r.Cancel()
				return ctx.Err()
			}
		}
	}
	// A pause may have begun while this caller waited for its turn.
	return p.waitPause(ctx)
}

// waitPause blocks while a pause is in force. Each pause change wakes the
// waiters, so a pause extended meanwhile is honoured too.
func (p *Pacer) waitPause(ctx context.Context) error {
	for {
		p.mu.Lock()
		d := p.pauseUntil.Sub(p.now())
		ch := p.pauseCh
		p.mu.Unlock()
		if d <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ch:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// Throttled records a 429 answer: it halves the rate (see Pacer) and, when
// retryAfter is positive, pauses every Wait until retryAfter from now.
func (p *Pacer) Throttled(retryAfter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.lim != nil && now.After(p.pauseUntil) && now.Sub(p.lastDecrease) >= p.cooldown {
		p.cur = max(p.floor, p.cur/2)
		p.lim.SetLimitAt(now, rate.Limit(p.cur))
		p.lastDecrease = now
	}
	if retryAfter > 0 {
		if until := now.Add(retryAfter); until.After(p.pauseUntil) {
			p.pauseUntil = until
			close(p.pauseCh)
			p.pauseCh = make(chan struct{})
		}
	}
}

// Succeeded records an answer that was not a 429 and raises the rate
// towards the ceiling: each success adds ceiling/20/current, so that the
// rate grows by about ceiling/20 per second while requests flow at it.
func (p *Pacer) Succeeded() {
	if p.lim == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.cur >= p.ceiling || now.Before(p.pauseUntil) {
		return
	}
	p.cur = min(p.ceiling, p.cur+p.ceiling/20/p.cur)
	p.lim.SetLimitAt(now, rate.Limit(p.cur))
}
