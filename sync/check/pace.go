package check

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/hubsync/hubsync/sync/hubapi"
)

// PaceResult is the pace step: latency, rate limits, and what a full sync
// would take.
type PaceResult struct {
	Step
	Endpoints []EndpointPace `json:"endpoints"`
	// RateLimitHeaders are the rate-limit headers seen (X-RateLimit-*,
	// RateLimit-*, Retry-After), each with the last value seen.
	RateLimitHeaders map[string]string `json:"rate_limit_headers"`
	// Throttled counts 429 answers.
	Throttled int `json:"throttled_429"`
	// Retries lists the retries made, as "endpoint reason ×n".
	Retries  []string  `json:"retries"`
	Estimate *Estimate `json:"estimate"`
}

// EndpointPace is one endpoint's requests and latency (request sent to body
// read).
type EndpointPace struct {
	Endpoint string         `json:"endpoint"`
	Requests int            `json:"requests"`
	P50Ms    float64        `json:"p50_ms"`
	P95Ms    float64        `json:"p95_ms"`
	Statuses map[string]int `json:"statuses"`
}

// Estimate is the API time of a full sync: one list request per page and
// one shared-numbers request per client, at the lower of the rate limit and
// what the concurrency allows at the measured latency. Database time is not
// included.
type Estimate struct {
	Clients        int  `json:"clients"`
	ClientsAtLeast bool `json:"clients_at_least"`
	Pages          int  `json:"pages"`
	Requests       int  `json:"requests"`
	// RequestsPerSecond is the rate assumed; LimitedBy says what bounds it:
	// "rate_limit" (HUBSYNC_RATE_LIMIT) or "latency" (HUBSYNC_CONCURRENCY
	// requests in flight, each taking the p50 latency).
	RequestsPerSecond float64 `json:"requests_per_second"`
	LimitedBy         string  `json:"limited_by"`
	Seconds           float64 `json:"seconds"`
	// ScheduleSeconds is the shortest interval of HUBSYNC_SCHEDULE.
	ScheduleSeconds    float64 `json:"schedule_interval_seconds"`
	LongerThanSchedule bool    `json:"longer_than_schedule"`
}

func (a *api) pace(r *Report) PaceResult {
	p := PaceResult{Endpoints: []EndpointPace{}, RateLimitHeaders: map[string]string{}, Retries: a.retrySummary()}
	sort.Strings(p.Retries)
	byEndpoint := map[string][]*exchange{}
	var names []string
	for _, ex := range a.rec.exchanges() {
		if _, ok := byEndpoint[ex.endpoint]; !ok {
			names = append(names, ex.endpoint)
		}
		byEndpoint[ex.endpoint] = append(byEndpoint[ex.endpoint], ex)
		for k, v := range ex.rateHeaders {
			p.RateLimitHeaders[k] = v
		}
		if ex.status == 429 {
			p.Throttled++
		}
	}
	sort.Strings(names)
	p50s := map[string]time.Duration{}
	for _, name := range names {
		exs := byEndpoint[name]
		ep := EndpointPace{Endpoint: name, Requests: len(exs), Statuses: map[string]int{}}
		var lat []time.Duration
		for _, ex := range exs {
			code := "no answer"
			if ex.status != 0 {
				code = strconv.Itoa(ex.status)
			}
			ep.Statuses[code]++
			lat = append(lat, ex.latency)
		}
		p50 := percentile(lat, 0.50)
		p50s[name] = p50
		ep.P50Ms, ep.P95Ms = ms(p50), ms(percentile(lat, 0.95))
		p.Endpoints = append(p.Endpoints, ep)
		p.ok("%s: %s, latency p50 %s, p95 %s", name, plural(ep.Requests, "request"), fmtMs(ep.P50Ms), fmtMs(ep.P95Ms))
	}
	if len(p.Endpoints) == 0 {
		p.skip("no request was answered")
		return p
	}
	if len(p.RateLimitHeaders) > 0 {
		var hs []string
		for k, v := range p.RateLimitHeaders {
			hs = append(hs, k+": "+v)
		}
		sort.Strings(hs)
		p.ok("rate-limit headers seen: %s", strings.Join(hs, ", "))
	} else {
		p.ok("no rate-limit headers seen")
	}
	if p.Throttled > 0 {
		p.warn(fmt.Sprintf("lower HUBSYNC_RATE_LIMIT below %s: the API throttled the check at that rate", fmtRate(a.cfg.RateLimit)),
			"the API answered 429 (too many requests) %s", plural(p.Throttled, "time"))
	}
	if len(p.Retries) > 0 {
		p.warn("", "hubapi retried: %s", strings.Join(p.Retries, ", "))
	}
	if !r.API.Authenticated || r.Listing.PagesRead == 0 {
		return p
	}
	latency := p50s[hubapi.EndpointSharedNumbers]
	if latency == 0 {
		latency = p50s[hubapi.EndpointListClients]
	}
	p.Estimate = estimate(a.cfg, &r.Listing, latency)
	e := p.Estimate
	msg := fmt.Sprintf("a full sync needs %d requests (%s clients, %s): about %s at %s requests/s (limited by %s)",
		e.Requests, countText(e.Clients, e.ClientsAtLeast), plural(e.Pages, "page"), fmtSeconds(e.Seconds), fmtRate(e.RequestsPerSecond), limitedByText(e.LimitedBy))
	if e.ClientsAtLeast {
		msg = "at least: " + msg
	}
	interval, ok := scheduleInterval(a.cfg.Schedule, a.cfg.Now())
	if ok {
		e.ScheduleSeconds = roundTo(interval.Seconds(), 3)
	}
	switch {
	case ok && e.Seconds > interval.Seconds():
		e.LongerThanSchedule = true
		advice := "schedule syncs less often (HUBSYNC_SCHEDULE)"
		if e.LimitedBy == "rate_limit" {
			advice = "raise HUBSYNC_RATE_LIMIT if the API allows it, or schedule syncs less often (HUBSYNC_SCHEDULE)"
		} else {
			advice = "raise HUBSYNC_CONCURRENCY, or schedule syncs less often (HUBSYNC_SCHEDULE)"
		}
		p.warn(advice, "%s, longer than the schedule's interval of %s: a run would still be going when the next is due (it is skipped)",
			msg, fmtSeconds(interval.Seconds()))
	case ok:
		p.ok("%s, within the schedule's interval of %s", msg, fmtSeconds(interval.Seconds()))
	default:
		p.ok("%s", msg)
	}
	return p
}

func estimate(cfg Config, l *ListingResult, latency time.Duration) *Estimate {
	e := &Estimate{Clients: l.Clients, ClientsAtLeast: l.ClientsAtLeast}
	size := cfg.PageSize
	if l.ClampedTo != nil {
		size = *l.ClampedTo
	}
	switch {
	case size <= 1:
		e.Pages = e.Clients + 1
	case e.Clients <= size:
		e.Pages = 1
	default:
		// Pages overlap by one client: each after the first brings size-1.
		e.Pages = 1 + int(math.Ceil(float64(e.Clients-size)/float64(size-1)))
	}
	if !l.TotalPresent {
		e.Pages++ // the page that brings nothing new ends the listing
	}
	e.Requests = e.Clients + e.Pages
	rate, by := cfg.RateLimit, "rate_limit"
	if latency > 0 {
		if byLatency := float64(cfg.Concurrency) / latency.Seconds(); rate <= 0 || byLatency < rate {
			rate, by = byLatency, "latency"
		}
	}
	e.RequestsPerSecond, e.LimitedBy = roundTo(rate, 2), by
	if rate > 0 {
		e.Seconds = roundTo(float64(e.Requests)/rate, 1)
	}
	return e
}

// scheduleInterval is the shortest time between two of the schedule's next
// activations (a spec like "0 9-17 * * *" has uneven gaps).
func scheduleInterval(spec string, now time.Time) (time.Duration, bool) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return 0, false
	}
	var shortest time.Duration
	t := s.Next(now)
	for range 48 {
		n := s.Next(t)
		if n.IsZero() {
			break
		}
		if d := n.Sub(t); shortest == 0 || d < shortest {
			shortest = d
		}
		t = n
	}
	return shortest, shortest > 0
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return roundTo(float64(d)/float64(time.Millisecond), 1) }

func fmtMs(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + " ms" }

func fmtRate(v float64) string { return strconv.FormatFloat(roundTo(v, 2), 'f', -1, 64) }

func fmtSeconds(s float64) string {
	if s < 0.1 {
		return "under 0.1s"
	}
	return time.Duration(s * float64(time.Second)).Round(100 * time.Millisecond).String()
}

// plural is n with its noun, pluralised with an s.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func limitedByText(by string) string {
	if by == "latency" {
		return "HUBSYNC_CONCURRENCY and the latency"
	}
	return "HUBSYNC_RATE_LIMIT"
}
