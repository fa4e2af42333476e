package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/hubsync/hubsync/sync/apispec"
	"github.com/hubsync/hubsync/sync/hubapi"
)

// APIResult is the API step: reachable, credential accepted.
type APIResult struct {
	Step
	Reachable bool `json:"reachable"`
	// Authenticated tells whether the credential was accepted.
	Authenticated bool `json:"authenticated"`
	// HTTPStatus is the status of the first list answer (0 when none came).
	HTTPStatus int `json:"http_status"`
	// TraceID is the API's trace id of a failed answer, for 360dialog support.
	TraceID string `json:"trace_id,omitempty"`
}

// ListingResult is the listing step: the first pages, as a sync reads them.
type ListingResult struct {
	Step
	PagesRead int `json:"pages_read"`
	// Complete tells whether those pages reached the end of the listing.
	Complete bool `json:"complete"`
	// TotalPresent tells whether every page carried total; Total is the
	// first page's.
	TotalPresent bool `json:"total_present"`
	Total        *int `json:"total"`
	// TotalChanged tells whether total differed between pages.
	TotalChanged bool `json:"total_changed"`
	// RequestedLimit is HUBSYNC_PAGE_SIZE; ClampedTo the limit the API
	// used instead, when it used a smaller one.
	RequestedLimit int  `json:"requested_limit"`
	ClampedTo      *int `json:"clamped_to"`
	// SortHonoured tells whether the records came in ascending id order.
	SortHonoured   bool   `json:"sort_honoured"`
	SortExampleID  string `json:"sort_example_id,omitempty"`
	OverlapsOK     int    `json:"overlaps_consistent"`
	OverlapsBroken int    `json:"overlaps_inconsistent"`
	Duplicates     int    `json:"duplicate_ids"`
	// Clients is the client count: total when sent, else the distinct ids
	// seen; ClientsAtLeast tells that it is only a lower bound.
	Clients        int  `json:"clients"`
	ClientsAtLeast bool `json:"clients_at_least"`
	DistinctSeen   int  `json:"distinct_ids_seen"`
}

// SharedResult is the shared-numbers step.
type SharedResult struct {
	Step
	ClientsSampled int            `json:"clients_sampled"`
	Channels       int            `json:"channels"`
	Failures       []FailedClient `json:"failures"`
}

// FailedClient is a client whose shared numbers could not be read.
type FailedClient struct {
	ClientID string `json:"client_id"`
	Error    string `json:"error"`
}

// api is the state of the API part of a check.
type api struct {
	cfg    Config
	client *hubapi.Client
	rec    *recorder
	val    *validator

	mu      sync.Mutex
	calls   int
	retries map[string]int
}

func (a *api) nextCall() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	return a.calls
}

// checkAPI runs the API, listing, shared-numbers, conformance and pace
// steps.
func checkAPI(ctx context.Context, cfg Config, r *Report) {
	skipAll := func(why string) {
		for _, s := range []*Step{&r.Listing.Step, &r.SharedNumbers.Step, &r.Conformance.Step, &r.Pace.Step} {
			s.skip("%s", why)
		}
	}
	initResults(r, cfg)
	doc, err := apispec.Load(ctx)
	if err != nil {
		r.API.fail("", "%v", err)
		skipAll("not checked: no OpenAPI document")
		return
	}
	listSchema, err1 := apispec.ResponseSchema(doc, apispec.PathListClients)
	sharedSchema, err2 := apispec.ResponseSchema(doc, apispec.PathSharedNumbers)
	if err := errors.Join(err1, err2); err != nil {
		r.API.fail("", "%v", err)
		skipAll("not checked: no OpenAPI document")
		return
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = hubapi.NewHTTPClient()
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	rec := &recorder{next: next}
	recorded := *hc
	recorded.Transport = rec
	a := &api{cfg: cfg, rec: rec, val: newValidator(listSchema, sharedSchema), retries: map[string]int{}}
	a.client, err = hubapi.New(hubapi.Config{
		BaseURL: cfg.BaseURL, PartnerID: cfg.PartnerID, APIKey: cfg.APIKey, Token: cfg.Token,
		HTTPClient: &recorded, RateLimit: cfg.RateLimit,
		MaxElapsed: cfg.MaxElapsed, RequestTimeout: cfg.RequestTimeout,
		OnRetry: func(endpoint, reason string) {
			a.mu.Lock()
			a.retries[endpoint+" "+reason]++
			a.mu.Unlock()
		},
	})
	if err != nil {
		r.API.fail("fix HUB_API_URL or HUB_PARTNER_ID", "cannot build the API client: %v", err)
		skipAll("not checked: no API client")
		return
	}

	ids := a.list(ctx, r)
	if !r.API.Authenticated {
		for _, s := range []*Step{&r.Listing.Step, &r.SharedNumbers.Step, &r.Conformance.Step} {
			s.skip("not checked: the first list request failed (see API)")
		}
		r.Pace = a.pace(r)
		return
	}
	a.sharedNumbers(ctx, r, ids)
	r.Conformance = a.val.result()
	r.Pace = a.pace(r)
}

// initResults gives the slices of the results their empty values, so that
// the JSON document always has them.
func initResults(r *Report, cfg Config) {
	r.SharedNumbers.Failures = []FailedClient{}
	r.Listing.RequestedLimit = cfg.PageSize
	r.Conformance = ConformanceResult{Undocumented: []Issue{}, Nulls: []Issue{}, Enums: []Issue{},
		WrongTypes: []Issue{}, Other: []Issue{}, Timestamps: []TimestampFormat{}, BadRecords: []Issue{}}
	r.Pace.Endpoints = []EndpointPace{}
	r.Pace.RateLimitHeaders = map[string]string{}
}

// page is what the check reads from one list answer.
type page struct {
	total    *int
	limit    *int
	records  []any
	ids      []string // "" for a record without a usable id
	readable bool
}

func readPage(body []byte) (any, page) {
	var p page
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, p
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return v, p
	}
	p.readable = true
	p.total = intField(obj, "total")
	p.limit = intField(obj, "limit")
	p.records, _ = obj["clients"].([]any)
	for _, rec := range p.records {
		id, ok := usableID(rec)
		if !ok {
			id = ""
		}
		p.ids = append(p.ids, id)
	}
	return v, p
}

func intField(obj map[string]any, name string) *int {
	f, ok := obj[name].(float64)
	if !ok || f != float64(int(f)) {
		return nil
	}
	n := int(f)
	return &n
}

// list reads the first pages as a sync does (page size, sort by id, pages
// overlapping by one client) and returns the distinct usable ids in order.
func (a *api) list(ctx context.Context, r *Report) []string {
	l := &r.Listing
	l.SortHonoured = true
	l.TotalPresent = true
	seen := map[string]bool{}
	var ids []string
	offset, lastID, prevID := 0, "", ""
	for n := 0; n < a.cfg.Pages; n++ {
		call := a.nextCall()
		_, err := a.client.ListClients(withCall(ctx, call), hubapi.ListParams{Offset: offset, Limit: a.cfg.PageSize, Sort: "id"})
		if err != nil {
			if n == 0 {
				a.explainFailure(r, err)
				return nil
			}
			l.fail("run the check again; if it persists, quote the error to 360dialog support",
				"the page at offset %d failed: %v", offset, err)
			break
		}
		if n == 0 {
			r.API.Reachable, r.API.Authenticated, r.API.HTTPStatus = true, true, http.StatusOK
			r.API.ok("reachable; the %s was accepted for partner %s", credentialName(a.cfg), a.cfg.PartnerID)
		}
		l.PagesRead++
		ex := a.rec.answer(call)
		if ex == nil {
			l.warn("", "the answer at offset %d was too large to analyse", offset)
			break
		}
		body, p := readPage(ex.body)
		if !p.readable {
			a.val.notJSONAnswer()
			l.warn("run the check again; if it persists, report it to 360dialog support",
				"the answer at offset %d is not a JSON object; paging stopped there", offset)
			break
		}
		a.val.page(body, offset)

		switch {
		case p.total == nil:
			l.TotalPresent = false
		case l.Total == nil:
			t := *p.total
			l.Total = &t
		case *p.total != *l.Total:
			l.TotalChanged = true
		}
		count := len(p.records)
		if l.ClampedTo == nil {
			switch {
			case p.limit != nil && *p.limit > 0 && *p.limit < a.cfg.PageSize:
				c := *p.limit
				l.ClampedTo = &c
			case p.total != nil && count > 0 && count < a.cfg.PageSize && offset+count < *p.total:
				c := count
				l.ClampedTo = &c
			}
		}
		for i, id := range p.ids {
			if id == "" {
				continue
			}
			if prevID != "" && id < prevID && l.SortHonoured {
				l.SortHonoured = false
				l.SortExampleID = clean(id, 80)
			}
			prevID = id
			switch {
			case !seen[id]:
				seen[id] = true
				ids = append(ids, id)
			case !(i == 0 && id == lastID):
				l.Duplicates++
			}
		}
		if n > 0 && lastID != "" && count > 0 {
			if p.ids[0] == lastID {
				l.OverlapsOK++
			} else {
				l.OverlapsBroken++
			}
		}
		if count == 0 || (p.total != nil && offset+count >= *p.total) {
			l.Complete = true
			break
		}
		if p.total == nil && n > 0 && !newIDs(p.ids, lastID) {
			// Without total, the sync ends on a page that brings nothing new.
			l.Complete = true
			break
		}
		if count > 1 && p.ids[count-1] != "" {
			offset += count - 1
			lastID = p.ids[count-1]
		} else {
			offset += count
			lastID = ""
		}
	}
	l.DistinctSeen = len(ids)
	a.listingFindings(l)
	return ids
}

// newIDs reports whether a page holds an id other than the overlap's.
func newIDs(ids []string, overlap string) bool {
	for i, id := range ids {
		if !(i == 0 && id == overlap) {
			return true
		}
	}
	return false
}

func (a *api) listingFindings(l *ListingResult) {
	switch {
	case l.Total != nil && !l.TotalChanged:
		l.Clients = *l.Total
	case l.Complete:
		l.Clients = l.DistinctSeen
	case l.Total != nil:
		l.Clients = *l.Total
	default:
		l.Clients, l.ClientsAtLeast = l.DistinctSeen, true
	}
	end := "not the end of the listing"
	if l.Complete {
		end = "the whole listing"
	}
	l.ok("read %s of up to %d clients sorted by id (%s): %s", plural(l.PagesRead, "page"), a.cfg.PageSize, end, plural(l.DistinctSeen, "distinct client"))
	if l.TotalPresent && l.Total != nil {
		l.ok("total is present: %d clients", *l.Total)
	} else {
		l.TotalPresent = false
		l.warn("nothing to change: a sync proves the listing complete by paging until a page brings nothing new",
			"the API sends no total (clients counted: %s)", countText(l.Clients, l.ClientsAtLeast))
	}
	if l.Complete && l.Total != nil && !l.TotalChanged && l.DistinctSeen != *l.Total {
		l.warn("run the check again; a sync that sees this cannot prove its listing complete, and marks nothing removed",
			"the listing brought %s, but total says %d", plural(l.DistinctSeen, "distinct usable id"), *l.Total)
	}
	if l.TotalChanged {
		l.warn("run the check again; a sync pages again when total moves",
			"total changed between pages")
	}
	if l.ClampedTo != nil {
		l.warn(fmt.Sprintf("set HUBSYNC_PAGE_SIZE to %d: the API clamps limit to %d", *l.ClampedTo, *l.ClampedTo),
			"limit is clamped: asked for %d clients a page, got %d", a.cfg.PageSize, *l.ClampedTo)
	} else {
		l.ok("limit %d honoured", a.cfg.PageSize)
	}
	if l.SortHonoured {
		l.ok("sort by id honoured")
	} else {
		l.warn("report it to 360dialog support: a sync relies on a stable order to prove its listing complete",
			"sort by id not honoured: id %s came after a larger one", l.SortExampleID)
	}
	switch {
	case l.OverlapsBroken > 0:
		l.warn("run the check again; a listing that shifts on every sync is never proven complete, and then nothing is marked removed",
			"%d of %d page boundaries did not overlap as expected (the listing moved or its order is unstable)",
			l.OverlapsBroken, l.OverlapsBroken+l.OverlapsOK)
	case l.OverlapsOK > 0:
		l.ok("pages overlap consistently (%d boundaries)", l.OverlapsOK)
	}
	if l.Duplicates > 0 {
		l.warn("run the check again; duplicates make a sync page the listing again",
			"%d ids appeared twice outside the one-client overlap", l.Duplicates)
	}
}

func countText(n int, atLeast bool) string {
	if atLeast {
		return fmt.Sprintf("at least %d", n)
	}
	return fmt.Sprint(n)
}

func credentialName(cfg Config) string {
	if cfg.APIKey != "" {
		return "API key"
	}
	return "bearer token"
}

// explainFailure says why the first list request failed.
func (a *api) explainFailure(r *Report, err error) {
	var he *hubapi.Error
	if !errors.As(err, &he) {
		r.API.fail("check HUB_API_URL and that this machine can reach it (proxy, firewall, DNS)",
			"cannot reach the API at %s: %v", a.cfg.BaseURL, err)
		return
	}
	r.API.Reachable, r.API.HTTPStatus, r.API.TraceID = true, he.StatusCode, clean(he.TraceID, 100)
	cred := credentialName(a.cfg)
	switch he.StatusCode {
	case http.StatusUnauthorized:
		if a.cfg.APIKey != "" {
			r.API.fail("check HUB_API_KEY: copy the partner's API key again from the 360dialog Partner Hub",
				"401 Unauthorized: the API did not accept the API key (a wrong or revoked key): %v", err)
		} else {
			r.API.fail("get a new token from /api/v2/token and set HUB_TOKEN, or use HUB_API_KEY, which does not expire",
				"401 Unauthorized: the API did not accept the bearer token (it may have expired): %v", err)
		}
	case http.StatusForbidden:
		r.API.fail("check that HUB_PARTNER_ID is the partner this credential belongs to",
			"403 Forbidden: the %s is valid but not for partner %s (a credential of another partner?): %v", cred, a.cfg.PartnerID, err)
	case http.StatusNotFound:
		r.API.fail("check HUB_PARTNER_ID and HUB_API_URL (the partner id, not a client id)",
			"404 Not Found: the API knows no partner %s at this URL: %v", a.cfg.PartnerID, err)
	default:
		r.API.fail("run the check again; if it persists, quote the trace id to 360dialog support",
			"the first list request failed: %v", err)
	}
}

// sharedNumbers reads the shared numbers of a sample of clients spread
// evenly over ids, with the sync's concurrency.
func (a *api) sharedNumbers(ctx context.Context, r *Report, ids []string) {
	s := &r.SharedNumbers
	k := min(a.cfg.Sample, len(ids))
	if k == 0 {
		s.skip("no client to sample")
		return
	}
	sample := make([]string, k)
	for i := range sample {
		sample[i] = ids[i*len(ids)/k]
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.cfg.Concurrency)
	for _, id := range sample {
		g.Go(func() error {
			call := a.nextCall()
			_, err := a.client.SharedNumbers(withCall(gctx, call), id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.Failures = append(s.Failures, FailedClient{ClientID: clean(id, 80), Error: clean(err.Error(), 300)})
				return nil
			}
			ex := a.rec.answer(call)
			if ex == nil {
				return nil
			}
			var v any
			if json.Unmarshal(ex.body, &v) != nil {
				a.val.notJSONAnswer()
				return nil
			}
			if arr, ok := v.([]any); ok {
				s.Channels += len(arr)
			}
			a.val.shared(v, id)
			return nil
		})
	}
	_ = g.Wait()
	slices.SortFunc(s.Failures, func(a, b FailedClient) int { return strings.Compare(a.ClientID, b.ClientID) })
	s.ClientsSampled = k
	s.ok("%s sampled across %s: %s", plural(k, "client"), plural(r.Listing.PagesRead, "page"), plural(s.Channels, "channel"))
	if n := len(s.Failures); n > 0 {
		f := s.Failures[0]
		s.fail("run the check again; if it persists, quote the error to 360dialog support",
			"%d of %d clients' shared numbers failed, e.g. client %s: %s (a sync would end partial)", n, k, f.ClientID, f.Error)
	}
}

// retrySummary lists the retries hubapi made, by endpoint and reason.
func (a *api) retrySummary() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []string{}
	for k, n := range a.retries {
		out = append(out, fmt.Sprintf("%s ×%d", k, n))
	}
	return out
}
