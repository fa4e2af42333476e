package syncer_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubsync/hubsync/sync/fakehub"
	"github.com/hubsync/hubsync/sync/hubapi"
	"github.com/hubsync/hubsync/sync/syncer"
)

// TestFaultAdaptivePacing: one pacer spaces the listing and every
// shared-numbers call. A burst of 429s halves its rate once (multiplicative
// decrease) and pauses every endpoint until Retry-After has passed; then the
// rate climbs back in small steps (additive increase) towards the ceiling.
func TestFaultAdaptivePacing(t *testing.T) {
	t.Parallel()
	const ceiling = 40.0
	type sample struct {
		t     time.Time
		code  int
		limit float64
	}
	var (
		pacer   atomic.Pointer[hubapi.Pacer]
		smu     sync.Mutex
		samples []sample
	)
	h := setup(t, fakehub.Config{Seed: 301, Clients: 70, ChannelsPerClient: 1}, func(ac *hubapi.Config, sc *syncer.Config) {
		ac.RateLimit = ceiling
		ac.OnResponse = func(endpoint string, code int, d time.Duration) {
			if p := pacer.Load(); p != nil {
				smu.Lock()
				samples = append(samples, sample{time.Now(), code, p.Limit()})
				smu.Unlock()
			}
		}
		sc.Concurrency = 8
	})
	pacer.Store(h.api.Pacer())

	// Requests 20 to 22 are held until all three have arrived, then
	// refused with Retry-After: 1: one congestion event.
	var (
		amu      sync.Mutex
		arrivals []arrival
		first429 time.Time
		n        int
	)
	burst := make(chan struct{})
	var burstOnce sync.Once
	h.srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		amu.Lock()
		n++
		i := n
		arrivals = append(arrivals, arrival{t: time.Now(), path: r.URL.Path})
		amu.Unlock()
		if i < 20 || i > 22 {
			return false
		}
		if i == 22 {
			burstOnce.Do(func() { close(burst) })
		}
		select {
		case <-burst:
		case <-time.After(5 * time.Second):
			t.Error("the three throttled requests were never in flight together")
		}
		amu.Lock()
		if first429.IsZero() {
			first429 = time.Now()
		}
		amu.Unlock()
		answer(http.StatusTooManyRequests, "Retry-After", "1")(w, r)
		return true
	})
	res := h.mustSync(t)
	h.srv.SetFault(nil)
	if res.APIThrottled != 3 {
		t.Fatalf("run counted %d 429s, want the 3 injected", res.APIThrottled)
	}

	amu.Lock()
	arrivals = slices.Clone(arrivals)
	amu.Unlock()
	// One limiter for everything: no second window holds more requests of
	// any kind than the ceiling allows (plus a burst of one).
	for i := range arrivals {
		in := 0
		for j := i; j < len(arrivals) && arrivals[j].t.Sub(arrivals[i].t) < time.Second; j++ {
			in++
		}
		if in > int(ceiling)+2 {
			t.Fatalf("%d requests reached the API within one second from request %d; ceiling is %v/s", in, i, ceiling)
		}
	}
	// A global pause: after the 429s nothing, list or shared numbers, reaches
	// the API until Retry-After has passed. A request the pacer let through
	// just before the 429 may still land late on a busy machine: at most
	// those already in flight, the 8 fetchers' and the lister's less the 3
	// held (the whole suite under -race on two cores has delivered six).
	// Without the pause, some 35 requests (1 s at 40/s) would arrive in this
	// window.
	listDuringPause, sharedDuringPause := 0, 0
	for _, a := range arrivals {
		if d := a.t.Sub(first429); d > 50*time.Millisecond && d < time.Second-30*time.Millisecond {
			if strings.HasSuffix(a.path, "/shared_client_numbers") {
				sharedDuringPause++
			} else {
				listDuringPause++
			}
		}
	}
	if listDuringPause+sharedDuringPause > 8+1-3 {
		t.Errorf("%d list and %d shared-numbers requests reached the API during the Retry-After pause; want at most 6 stragglers", listDuringPause, sharedDuringPause)
	}

	smu.Lock()
	samples = slices.Clone(samples)
	smu.Unlock()
	minLimit, final := ceiling, samples[len(samples)-1].limit
	var maxStep float64
	for i, s := range samples {
		minLimit = min(minLimit, s.limit)
		if i > 0 && s.t.After(first429.Add(time.Second)) {
			maxStep = max(maxStep, s.limit-samples[i-1].limit)
		}
	}
	if minLimit != ceiling/2 {
		t.Errorf("after a burst of three 429s the rate went down to %v/s; want one halving to %v/s", minLimit, ceiling/2)
	}
	if final <= minLimit+1 {
		t.Errorf("the rate stayed at %v/s (lowest %v/s) over %d requests; want it to climb back", final, minLimit, len(samples))
	}
	if final > ceiling {
		t.Errorf("the rate climbed to %v/s, above the ceiling %v/s", final, ceiling)
	}
	if maxStep > ceiling/20/minLimit+1e-9 {
		t.Errorf("the rate grew by %v/s in one step; additive increase grows by at most %v", maxStep, ceiling/20/minLimit)
	}
	h.settle(t)
}
