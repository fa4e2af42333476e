package fakehub

import (
	"sync"
	"sync/atomic"
)

// Stats counts the requests a Server has answered since it was created.
type Stats struct {
	// Requests is every request, whatever its outcome.
	Requests int64
	// Throttled is the requests answered 429 by the rate limit (or a Fault).
	Throttled int64
	// Errors is the other responses with a status of 400 or more (401, 404,
	// injected 5xx, ...) plus connections a Fault hijacked.
	Errors int64
	// ByEndpoint splits the counts by EndpointListClients,
	// EndpointUpdateClient, EndpointSharedNumbers and EndpointOther.
	ByEndpoint map[string]EndpointStats
	// ByStatus counts responses by HTTP status code.
	ByStatus map[int]int64
}

// EndpointStats is the share of Stats that one endpoint received.
type EndpointStats struct {
	Requests  int64
	Throttled int64
	Errors    int64
}

type stats struct {
	ep [numEndpoints]struct {
		requests, throttled, errors atomic.Int64
	}
	mu       sync.Mutex
	byStatus map[int]int64
}

func (st *stats) record(ep endpoint, rec *recorder) {
	e := &st.ep[ep]
	e.requests.Add(1)
	switch {
	case rec.status == 429:
		e.throttled.Add(1)
	case rec.status >= 400 || rec.hijacked:
		e.errors.Add(1)
	}
	if rec.status == 0 {
		return
	}
	st.mu.Lock()
	if st.byStatus == nil {
		st.byStatus = make(map[int]int64)
	}
	st.byStatus[rec.status]++
	st.mu.Unlock()
}

// Stats returns a snapshot of the request counters.
func (s *Server) Stats() Stats {
	out := Stats{ByEndpoint: make(map[string]EndpointStats, numEndpoints), ByStatus: make(map[int]int64)}
	for i := range numEndpoints {
		e := &s.stats.ep[i]
		es := EndpointStats{Requests: e.requests.Load(), Throttled: e.throttled.Load(), Errors: e.errors.Load()}
		out.ByEndpoint[endpointNames[i]] = es
		out.Requests += es.Requests
		out.Throttled += es.Throttled
		out.Errors += es.Errors
	}
	s.stats.mu.Lock()
	for k, v := range s.stats.byStatus {
		out.ByStatus[k] = v
	}
	s.stats.mu.Unlock()
	return out
}
