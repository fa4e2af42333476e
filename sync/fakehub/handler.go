package fakehub

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Endpoint names used as keys of Stats.ByEndpoint.
const (
	EndpointListClients   = "list_clients"          // GET .../clients
	EndpointUpdateClient  = "update_client"         // PATCH .../clients/{client_id}
	EndpointSharedNumbers = "shared_client_numbers" // GET .../clients/{client_id}/shared_client_numbers
	EndpointOther         = "other"                 // anything else (answered 404 or 405)
)

type endpoint uint8

const (
	epList endpoint = iota
	epUpdate
	epShared
	epOther
	numEndpoints
)

var endpointNames = [numEndpoints]string{EndpointListClients, EndpointUpdateClient, EndpointSharedNumbers, EndpointOther}

type route struct {
	ep        endpoint
	partnerID string
	clientID  string
}

const pathPrefix = "/api/v2/partners/"

func parseRoute(path string) route {
	rest, ok := strings.CutPrefix(path, pathPrefix)
	if !ok {
		return route{ep: epOther}
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || parts[1] != "clients" {
		return route{ep: epOther}
	}
	switch {
	case len(parts) == 2:
		return route{ep: epList, partnerID: parts[0]}
	case len(parts) == 3 && parts[2] != "":
		return route{ep: epUpdate, partnerID: parts[0], clientID: parts[2]}
	case len(parts) == 4 && parts[2] != "" && parts[3] == "shared_client_numbers":
		return route{ep: epShared, partnerID: parts[0], clientID: parts[2]}
	}
	return route{ep: epOther}
}

var allowed = [numEndpoints]string{http.MethodGet, http.MethodPatch, http.MethodGet, ""}

// ServeHTTP answers the three Client Management endpoints. Order of
// concerns: latency, authentication (401), the test's Fault, the rate limit
// (429), injected errors (5xx), then routing and the endpoint itself.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := parseRoute(r.URL.Path)
	rec := &recorder{ResponseWriter: w}
	defer s.stats.record(rt.ep, rec)

	if d := s.latency(rt.ep); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if !s.authorized(r) {
		rec.Header().Set("WWW-Authenticate", `Bearer realm="partner-api"`)
		s.writeError(rec, http.StatusUnauthorized, "Invalid or missing credentials: send X-API-Key or Authorization: Bearer", nil)
		return
	}
	s.hookMu.RLock()
	fault := s.fault
	s.hookMu.RUnlock()
	if fault != nil && fault(rec, r) {
		return
	}
	if s.limiter != nil {
		res := s.limiter.Reserve()
		if d := res.Delay(); d > 0 {
			res.Cancel()
			rec.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
			s.writeError(rec, http.StatusTooManyRequests, "Rate limit exceeded", nil)
			return
		}
	}
	if code := s.injectedError(); code != 0 {
		s.writeError(rec, code, http.StatusText(code), nil)
		return
	}

	if rt.ep == epOther {
		s.writeError(rec, http.StatusNotFound, "Not found", nil)
		return
	}
	if r.Method != allowed[rt.ep] {
		rec.Header().Set("Allow", allowed[rt.ep])
		s.writeError(rec, http.StatusMethodNotAllowed, "Method not allowed", nil)
		return
	}
	if rt.partnerID != s.cfg.PartnerID {
		s.writeError(rec, http.StatusNotFound, "Partner not found", nil)
		return
	}
	switch rt.ep {
	case epList:
		s.handleList(rec, r)
	case epUpdate:
		s.handleUpdate(rec, r, rt.clientID)
	case epShared:
		s.handleShared(rec, rt.clientID)
	}
}

// latency is how long a request to ep waits before it is answered.
func (s *Server) latency(ep endpoint) time.Duration {
	switch ep {
	case epList:
		return s.cfg.Latency + s.cfg.ListLatency
	case epShared:
		return s.cfg.Latency + s.cfg.SharedLatency
	}
	return s.cfg.Latency
}

func (s *Server) authorized(r *http.Request) bool {
	if k := r.Header.Get("X-API-Key"); k != "" && subtle.ConstantTimeCompare([]byte(k), []byte(s.cfg.APIKey)) == 1 {
		return true
	}
	if s.cfg.Token == "" {
		return false
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.cfg.Token)) == 1
}

// injectedError draws whether this request fails, and how.
func (s *Server) injectedError() int {
	if s.cfg.ErrorRate <= 0 {
		return 0
	}
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.errRng.Float64() >= s.cfg.ErrorRate {
		return 0
	}
	return []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[s.errRng.IntN(3)]
}

// traceID returns the next 360dialog_trace_id: random-looking, but the n-th
// error of a server with a given seed always gets the same id.
func (s *Server) traceID() string {
	n := s.traceSeq.Add(1)
	x := splitmix(uint64(s.cfg.Seed) ^ splitmix(n))
	b := make([]byte, 0, 32)
	for _, v := range []uint64{x, splitmix(x)} {
		for i := 60; i >= 0; i -= 4 {
			b = append(b, hexDigits[(v>>i)&0xf])
		}
	}
	return string(b)
}

// writeError answers with a DefaultHttpError body, or a
// DefaultValidationError body when details is not nil.
func (s *Server) writeError(w http.ResponseWriter, code int, msg string, details map[string]any) {
	b := make([]byte, 0, 256)
	b = append(b, `{"meta":{"developer_message":`...)
	b = appendString(b, msg)
	b = append(b, `,"http_code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"success":false,"360dialog_trace_id":`...)
	b = appendString(b, s.traceID())
	if details != nil {
		b = append(b, `,"details":`...)
		b = append(b, canonicalJSON(details)...)
	}
	b = append(b, "}}"...)
	writeJSON(w, code, b)
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body) // the client went away; nothing to do
}

// canonicalJSON encodes v with sorted keys and without HTML escaping.
func canonicalJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte("{}")
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}

// sortKey is one parsed element of the sort parameter.
type sortKey struct {
	field string
	desc  bool
}

type listQuery struct {
	offset, limit int
	sortRaw       []string
	sorts         []sortKey
	filters       map[string]any
	filtersJSON   []byte
}

var sortFieldSet = func() map[string]bool {
	m := make(map[string]bool, len(sortFields))
	for _, f := range sortFields {
		m[f] = true
	}
	return m
}()

var filterFieldSet = func() map[string]bool {
	m := make(map[string]bool, len(filterFields))
	for _, f := range filterFields {
		m[f] = true
	}
	return m
}()

// parseListQuery validates the list parameters; a non-empty details map
// means 400.
func (s *Server) parseListQuery(r *http.Request) (listQuery, map[string]any) {
	q := r.URL.Query()
	details := make(map[string]any)
	lq := listQuery{offset: intParam(q.Get("offset"), 0, "offset", details), limit: intParam(q.Get("limit"), DefaultLimit, "limit", details)}
	lq.limit = min(lq.limit, s.cfg.MaxLimit)

	for _, v := range q["sort"] {
		if v == "" {
			continue
		}
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			name, desc := strings.CutPrefix(item, "-")
			if !sortFieldSet[name] {
				details["sort"] = []string{fmt.Sprintf("Invalid sort field %q. Must be one of: %s, optionally prefixed with '-'.", item, strings.Join(sortFields, ", "))}
				break
			}
			lq.sortRaw = append(lq.sortRaw, item)
			lq.sorts = append(lq.sorts, sortKey{field: name, desc: desc})
		}
	}

	if raw := q.Get("filters"); raw != "" {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var v any
		err := dec.Decode(&v)
		obj, isObj := v.(map[string]any)
		if _, tail := dec.Token(); err != nil || !isObj || tail != io.EOF {
			details["filters"] = []string{"Not a valid JSON object."}
		} else {
			unknown := make(map[string]any)
			for k := range obj {
				if !filterFieldSet[k] {
					unknown[k] = []string{"Unknown field."}
				}
			}
			if len(unknown) > 0 {
				details["filters"] = unknown
			} else if len(obj) > 0 {
				lq.filters = obj
				lq.filtersJSON = canonicalJSON(obj)
			}
		}
	}
	return lq, details
}

func intParam(raw string, def int, name string, details map[string]any) int {
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	switch {
	case err != nil:
		details[name] = []string{"Not a valid integer."}
		return def
	case n < 0:
		details[name] = []string{"Must be greater than or equal to 0."}
		return def
	}
	return n
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	lq, details := s.parseListQuery(r)
	if len(details) > 0 {
		s.writeError(w, http.StatusBadRequest, "Invalid query parameters", details)
		return
	}
	s.hookMu.RLock()
	onList := s.onList
	s.hookMu.RUnlock()
	if onList != nil {
		onList(lq.offset, lq.limit)
	}

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := (*bp)[:0]
	b = append(b, `{"limit":`...)
	b = strconv.AppendInt(b, int64(lq.limit), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(lq.offset), 10)
	b = append(b, `,"sort":[`...)
	for i, v := range lq.sortRaw {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	b = append(b, `],"filters":`...)
	if lq.filtersJSON != nil {
		b = append(b, lq.filtersJSON...)
	} else {
		b = append(b, "{}"...)
	}

	s.mu.RLock()
	matched := s.query(lq)
	start := min(lq.offset, len(matched))
	page := matched[start : start+min(lq.limit, len(matched)-start)]
	if !s.omitTotal(lq.offset) {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, int64(len(matched)), 10)
	}
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(len(page)), 10)
	b = append(b, `,"clients":[`...)
	for i, c := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c.jsonBytes()...)
	}
	s.mu.RUnlock()
	b = append(b, "]}"...)
	*bp = b
	writeJSON(w, http.StatusOK, b)
}

// query returns the clients matching lq's filters in lq's order. Results
// are cached until the next change. Callers hold s.mu for reading.
func (s *Server) query(lq listQuery) []*client {
	if len(lq.filters) == 0 && (len(lq.sorts) == 0 || (len(lq.sorts) == 1 && lq.sorts[0] == sortKey{field: "id"})) {
		return s.byID
	}
	cacheKey := strings.Join(lq.sortRaw, ",") + "\x00" + string(lq.filtersJSON)
	s.qmu.Lock()
	res, ok := s.queries[cacheKey]
	s.qmu.Unlock()
	if ok {
		return res.clients
	}

	out := s.byID
	if len(lq.filters) > 0 {
		out = nil
		for _, c := range s.byID {
			if matchesAll(c, lq.filters) {
				out = append(out, c)
			}
		}
	}
	if len(lq.sorts) > 0 {
		// Precompute the keys, then sort stably: the input is in id order,
		// so ties stay in id order and paging is deterministic.
		n, k := len(out), len(lq.sorts)
		keys := make([]fieldValue, n*k)
		idx := make([]int32, n)
		for i, c := range out {
			idx[i] = int32(i)
			for j, sk := range lq.sorts {
				keys[i*k+j] = c.get(sk.field)
			}
		}
		slices.SortStableFunc(idx, func(a, b int32) int {
			for j, sk := range lq.sorts {
				cmp := compareValues(keys[int(a)*k+j], keys[int(b)*k+j])
				if sk.desc {
					cmp = -cmp
				}
				if cmp != 0 {
					return cmp
				}
			}
			return 0
		})
		sorted := make([]*client, n)
		for i, j := range idx {
			sorted[i] = out[j]
		}
		out = sorted
	}
	s.qmu.Lock()
	if len(s.queries) >= 64 {
		clear(s.queries)
	}
	s.queries[cacheKey] = queryResult{clients: out}
	s.qmu.Unlock()
	return out
}

type queryResult struct {
	clients []*client
}

func matchesAll(c *client, filters map[string]any) bool {
	for k, want := range filters {
		if !c.get(k).matches(want) {
			return false
		}
	}
	return true
}

// update is a validated PartnerClientUpdateIn.
type update struct {
	partnerPayload *string
	maxChannels    *int
}

// parseUpdate validates a PATCH body against PartnerClientUpdateIn
// (additionalProperties false); a non-nil details map means 400.
func parseUpdate(body []byte) (update, map[string]any) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	err := dec.Decode(&fields)
	if _, tail := dec.Token(); err != nil || fields == nil || tail != io.EOF {
		return update{}, map[string]any{"json": []string{"Invalid JSON body: expected a JSON object."}}
	}
	var u update
	bad := make(map[string]any)
	for name, raw := range fields {
		raw = bytes.TrimSpace(raw)
		switch name {
		case "partner_payload":
			var v string
			if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
				bad[name] = []string{"Not a valid string."}
				continue
			}
			u.partnerPayload = &v
		case "max_channels":
			n, err := strconv.ParseInt(string(raw), 10, 64)
			switch {
			case err != nil:
				bad[name] = []string{"Not a valid integer."}
			case n < 0:
				bad[name] = []string{"Must be greater than or equal to 0."}
			case n > math.MaxInt32:
				bad[name] = []string{"Must be less than or equal to 2147483647."}
			default:
				v := int(n)
				u.maxChannels = &v
			}
		default:
			bad[name] = []string{"Unknown field."}
		}
	}
	if len(bad) > 0 {
		return update{}, map[string]any{"json": bad}
	}
	return u, nil
}

const maxBody = 1 << 20

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, clientID string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeError(w, http.StatusBadRequest, "Invalid request payload", map[string]any{"json": []string{"Body too large."}})
		}
		return // the client went away mid-body
	}
	s.mu.RLock()
	_, ok := s.clients[clientID]
	s.mu.RUnlock()
	if !ok {
		s.writeError(w, http.StatusNotFound, "Client not found", nil)
		return
	}
	u, details := parseUpdate(body)
	if details != nil {
		s.writeError(w, http.StatusBadRequest, "Invalid request payload", details)
		return
	}

	s.mu.Lock()
	c, ok := s.clients[clientID]
	if !ok { // removed meanwhile
		s.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "Client not found", nil)
		return
	}
	if u.partnerPayload != nil {
		c.partnerPayload = some(*u.partnerPayload)
		c.dropOverrides("partner_payload")
	}
	if u.maxChannels != nil {
		c.maxChannels = *u.maxChannels
		c.dropOverrides("max_channels")
	}
	s.touch(c)
	out := c.jsonBytes()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// touch stamps a client as modified now through the Partner API. Callers
// hold s.mu for writing.
func (s *Server) touch(c *client) {
	c.modifiedAt = at(max(s.tick(), c.modifiedAt.us+1), c.modifiedAt.f)
	c.modifiedBy = partnerAPIUser
	c.dropOverrides("modified_at")
	c.dropOverrides("modified_by")
	c.cache.Store(nil)
	s.changed()
}

func (s *Server) handleShared(w http.ResponseWriter, clientID string) {
	s.mu.RLock()
	c, ok := s.clients[clientID]
	if !ok {
		s.mu.RUnlock()
		s.writeError(w, http.StatusNotFound, "Client not found", nil)
		return
	}
	if c.hasRawShare {
		body := c.rawShared
		s.mu.RUnlock()
		writeJSON(w, http.StatusOK, body)
		return
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := append((*bp)[:0], '[')
	for i, ch := range c.chans {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ch.jsonBytes()...)
	}
	s.mu.RUnlock()
	b = append(b, ']')
	*bp = b
	writeJSON(w, http.StatusOK, b)
}

// recorder remembers the status a handler (or a Fault) answered with, for
// Stats, while still offering Flush and Hijack to faults.
type recorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client.
func (w *recorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush() // best effort, like http.Flusher
}

// Hijack lets a Fault take over the connection.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return conn, rw, err
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
