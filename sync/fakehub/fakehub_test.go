package fakehub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{ErrorRate: 1.5},
		{ErrorRate: -0.1},
		{RPS: -1},
		{Latency: -time.Second},
		{MaxLimit: -1},
		{ChannelsPerClient: 5000},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	if cfg.PartnerID != "demo-partner" || cfg.APIKey != "demo-key" || cfg.Clients != 50 || cfg.MaxLimit != 1000 {
		t.Errorf("defaults = %+v, want demo-partner/demo-key/50 clients/max limit 1000", cfg)
	}
	if n, _ := s.Counts(); n != 50 {
		t.Errorf("generated %d clients, want 50", n)
	}
}

// pageAll pages through the list with the given query and page size and
// returns the raw client objects in order.
func (h *harness) pageAll(q url.Values, size int) []json.RawMessage {
	h.t.Helper()
	var all []json.RawMessage
	for offset := 0; ; offset += size {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("offset", strconv.Itoa(offset))
		qq.Set("limit", strconv.Itoa(size))
		p := h.list(qq)
		if p.Count != len(p.Clients) {
			h.t.Fatalf("count %d but %d clients", p.Count, len(p.Clients))
		}
		all = append(all, p.Clients...)
		if offset+size >= p.Total {
			if len(all) != p.Total {
				h.t.Fatalf("paged %d clients, total says %d", len(all), p.Total)
			}
			return all
		}
	}
}

func TestPagingCoversEveryClientOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 1, Clients: 103})
	all := h.pageAll(url.Values{"sort": {"id"}}, 10)
	var ids []string
	for _, raw := range all {
		ids = append(ids, idOf(t, raw))
	}
	if want := h.srv.ClientIDs(); !slices.Equal(ids, want) {
		t.Fatalf("paged ids (%d) differ from ClientIDs (%d)", len(ids), len(want))
	}
	if !slices.IsSorted(ids) {
		t.Error("sort=id pages are not in id order")
	}
	// Without a sort the order is by id too.
	p := h.list(nil)
	if p.Limit != DefaultLimit || p.Offset != 0 || p.Count != DefaultLimit || p.Total != 103 {
		t.Errorf("default page: limit %d offset %d count %d total %d, want %d 0 %d 103", p.Limit, p.Offset, p.Count, p.Total, DefaultLimit, DefaultLimit)
	}
	if got := idOf(t, p.Clients[0]); got != ids[0] {
		t.Errorf("first client without sort %s, want %s", got, ids[0])
	}
	if p.Sort == nil || p.Filters == nil {
		t.Errorf("sort %v and filters %v must be present (as [] and {})", p.Sort, p.Filters)
	}
	// Past the end: an empty page that still counts.
	p = h.list(url.Values{"offset": {"500"}})
	if p.Count != 0 || len(p.Clients) != 0 || p.Total != 103 {
		t.Errorf("page past the end: count %d, %d clients, total %d; want 0, 0, 103", p.Count, len(p.Clients), p.Total)
	}
}

// parseLoose parses the timestamp formats the server emits (zone-less ones
// are UTC).
func parseLoose(t *testing.T, s string) time.Time {
	t.Helper()
	if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return ts
	}
	ts, err := time.Parse("2006-01-02T15:04:05.999999999", s)
	if err != nil {
		t.Fatalf("unparseable timestamp %q", s)
	}
	return ts
}

// compareField orders two decoded values of a field the way the server
// must: nulls last, timestamps by instant, strings bytewise.
func compareField(t *testing.T, field string, a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	as, bs := a.(string), b.(string)
	if strings.HasSuffix(field, "_at") {
		return parseLoose(t, as).Compare(parseLoose(t, bs))
	}
	return strings.Compare(as, bs)
}

func TestSortOrders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 2, Clients: 90})
	for _, sortParam := range []string{"name", "-name", "created_at", "-modified_at", "contact_info.email", "-status", "status,-created_at"} {
		all := h.pageAll(url.Values{"sort": {sortParam}}, 13)
		if len(all) != 90 {
			t.Fatalf("sort=%s: %d clients, want 90", sortParam, len(all))
		}
		seen := make(map[string]bool)
		for i, raw := range all {
			cur := clientObj(t, raw)
			id := cur["id"].(string)
			if seen[id] {
				t.Fatalf("sort=%s: client %s served twice", sortParam, id)
			}
			seen[id] = true
			if i == 0 {
				continue
			}
			prev := clientObj(t, all[i-1])
			order := 0
			for key := range strings.SplitSeq(sortParam, ",") {
				field, desc := strings.CutPrefix(key, "-")
				a, _ := dig(prev, field)
				b, _ := dig(cur, field)
				order = compareField(t, field, a, b)
				if desc {
					order = -order
				}
				if order != 0 {
					break
				}
			}
			if order == 0 {
				order = strings.Compare(prev["id"].(string), id) // ties by id
			}
			if order > 0 {
				t.Fatalf("sort=%s: client %d (%s) is out of order after %s", sortParam, i, id, prev["id"])
			}
		}
	}
	p := h.list(url.Values{"sort": {"-name"}, "limit": {"1"}})
	if !slices.Equal(p.Sort, []string{"-name"}) {
		t.Errorf("response sort = %v, want [-name]", p.Sort)
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 3, Clients: 150})
	all := h.pageAll(nil, 100)
	var target map[string]any
	for _, raw := range all {
		m := clientObj(t, raw)
		if email, _ := dig(m, "contact_info.email"); email != nil {
			target = m
			break
		}
	}
	email, _ := dig(target, "contact_info.email")
	count := func(pred func(map[string]any) bool) int {
		n := 0
		for _, raw := range all {
			if pred(clientObj(t, raw)) {
				n++
			}
		}
		return n
	}

	cases := []struct {
		filters string
		pred    func(map[string]any) bool
	}{
		{`{"status":"active"}`, func(m map[string]any) bool { return m["status"] == "active" }},
		{fmt.Sprintf(`{"contact_info.email":%q}`, email), func(m map[string]any) bool { v, _ := dig(m, "contact_info.email"); return v == email }},
		{`{"contact_info.email":null}`, func(m map[string]any) bool { v, ok := dig(m, "contact_info.email"); return ok && v == nil }},
		{`{"status":"active","contact_info.country":"DE"}`, func(m map[string]any) bool {
			v, _ := dig(m, "contact_info.country")
			return m["status"] == "active" && v == "DE"
		}},
		{fmt.Sprintf(`{"id":%q}`, target["id"]), func(m map[string]any) bool { return m["id"] == target["id"] }},
		{`{"name":"no such client"}`, func(map[string]any) bool { return false }},
		{`{}`, func(map[string]any) bool { return true }},
	}
	for _, tc := range cases {
		want := count(tc.pred)
		p := h.list(url.Values{"filters": {tc.filters}, "limit": {"1000"}})
		if p.Total != want || p.Count != want {
			t.Errorf("filters=%s: total %d count %d, want %d", tc.filters, p.Total, p.Count, want)
		}
		for _, raw := range p.Clients {
			if !tc.pred(clientObj(t, raw)) {
				t.Errorf("filters=%s returned non-matching client %s", tc.filters, idOf(t, raw))
			}
		}
		var echoed map[string]any
		if err := json.Unmarshal([]byte(tc.filters), &echoed); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(p.Filters) != fmt.Sprint(echoed) {
			t.Errorf("filters=%s echoed as %v", tc.filters, p.Filters)
		}
	}
	if n := count(func(m map[string]any) bool { return m["status"] == "active" }); n == 0 || n == len(all) {
		t.Errorf("%d of %d clients active; the status filter test needs a mix", n, len(all))
	}
}

func TestMaxLimitClamp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 4, Clients: 30, MaxLimit: 7})
	p := h.list(url.Values{"limit": {"50"}})
	if p.Limit != 7 || p.Count != 7 || p.Total != 30 {
		t.Errorf("limit=50 with MaxLimit 7: limit %d count %d total %d, want 7 7 30", p.Limit, p.Count, p.Total)
	}
	p = h.list(url.Values{"limit": {"3"}})
	if p.Limit != 3 || p.Count != 3 {
		t.Errorf("limit=3: limit %d count %d, want 3 3", p.Limit, p.Count)
	}
}

// snapshotAll returns every byte the API serves for the data set.
func (h *harness) snapshotAll() []byte {
	h.t.Helper()
	var buf bytes.Buffer
	for offset := 0; ; offset += 50 {
		code, body := h.get(h.listURL(url.Values{"offset": {strconv.Itoa(offset)}, "limit": {"50"}}))
		if code != http.StatusOK {
			h.t.Fatalf("list: status %d", code)
		}
		buf.Write(body)
		p := decodePage(h.t, body)
		for _, raw := range p.Clients {
			_, shared := h.get(h.sharedURL(idOf(h.t, raw)))
			buf.Write(shared)
		}
		if p.Count < 50 {
			return buf.Bytes()
		}
	}
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	a := newHarness(t, Config{Seed: 99, Clients: 120})
	b := newHarness(t, Config{Seed: 99, Clients: 120})
	c := newHarness(t, Config{Seed: 100, Clients: 120})
	sa, sb, sc := a.snapshotAll(), b.snapshotAll(), c.snapshotAll()
	if !bytes.Equal(sa, sb) {
		t.Error("two servers with seed 99 served different bytes")
	}
	if bytes.Equal(sa, sc) {
		t.Error("seeds 99 and 100 served identical bytes")
	}
	// Error trace ids are seed-deterministic too.
	_, ea := a.get(a.clientURL("nopeCL") + "/shared_client_numbers")
	_, eb := b.get(b.clientURL("nopeCL") + "/shared_client_numbers")
	_, ec := c.get(c.clientURL("nopeCL") + "/shared_client_numbers")
	if !bytes.Equal(ea, eb) || bytes.Equal(ea, ec) {
		t.Errorf("404 bodies: seed 99 %s / %s, seed 100 %s; want equal for equal seeds only", ea, eb, ec)
	}
}

func TestPatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 5, Clients: 10})
	id := h.srv.ClientIDs()[4]
	before := clientObj(t, h.list(url.Values{"filters": {fmt.Sprintf(`{"id":%q}`, id)}}).Clients[0])

	body := []byte(`{"partner_payload":"crm:7 – ü","max_channels":12}`)
	code, _, resp := h.do(h.request(http.MethodPatch, h.clientURL(id), body, true))
	if code != http.StatusOK {
		t.Fatalf("PATCH: status %d, want 200; body %s", code, resp)
	}
	after := clientObj(t, resp)
	if after["partner_payload"] != "crm:7 – ü" || after["max_channels"] != float64(12) {
		t.Errorf("PATCH answer has partner_payload %v max_channels %v, want crm:7 – ü and 12", after["partner_payload"], after["max_channels"])
	}
	if !parseLoose(t, after["modified_at"].(string)).After(parseLoose(t, before["modified_at"].(string))) {
		t.Errorf("modified_at %v not after %v", after["modified_at"], before["modified_at"])
	}
	if after["name"] != before["name"] || after["created_at"] != before["created_at"] {
		t.Error("PATCH changed fields it was not asked to")
	}
	listed := h.list(url.Values{"filters": {fmt.Sprintf(`{"id":%q}`, id)}}).Clients[0]
	if !bytes.Equal(listed, resp) {
		t.Errorf("list serves %s after PATCH answered %s", listed, resp)
	}

	// Only max_channels: partner_payload stays.
	code, _, resp = h.do(h.request(http.MethodPatch, h.clientURL(id), []byte(`{"max_channels":0}`), true))
	if m := clientObj(t, resp); code != 200 || m["max_channels"] != float64(0) || m["partner_payload"] != "crm:7 – ü" {
		t.Errorf("PATCH max_channels 0: status %d, body %s", code, resp)
	}

	bad := []string{
		`{"colour":"red"}`,
		`{"max_channels":"3"}`,
		`{"max_channels":2.5}`,
		`{"max_channels":-1}`,
		`{"max_channels":null}`,
		`{"partner_payload":5}`,
		`{"partner_payload":null}`,
		`{"partner_payload":"x"`,
		`{"partner_payload":"x"} trailing`,
		`["max_channels"]`,
		`null`,
		``,
		`{"max_channels":3,"extra":true}`,
	}
	for _, b := range bad {
		code, _, resp := h.do(h.request(http.MethodPatch, h.clientURL(id), []byte(b), true))
		if code != http.StatusBadRequest {
			t.Errorf("PATCH %q: status %d, want 400; body %s", b, code, resp)
			continue
		}
		if meta := errorMeta(t, resp); meta["details"] == nil || meta["http_code"] != float64(400) {
			t.Errorf("PATCH %q: 400 without details: %s", b, resp)
		}
	}
	code, _, resp = h.do(h.request(http.MethodPatch, h.clientURL("missingCL"), []byte(`{"max_channels":1}`), true))
	if code != http.StatusNotFound {
		t.Errorf("PATCH unknown client: status %d, want 404; %s", code, resp)
	}
	errorMeta(t, resp)
}

func TestAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 6, Clients: 3, APIKey: "k-123", Token: "t-456"})
	id := h.srv.ClientIDs()[0]
	endpoints := []struct{ method, u string }{
		{http.MethodGet, h.listURL(nil)},
		{http.MethodPatch, h.clientURL(id)},
		{http.MethodGet, h.sharedURL(id)},
	}
	creds := []struct {
		name, header, value string
		ok                  bool
	}{
		{"none", "", "", false},
		{"wrong key", "X-API-Key", "k-124", false},
		{"wrong bearer", "Authorization", "Bearer t-457", false},
		{"key as bearer", "Authorization", "Bearer k-123", false},
		{"key", "X-API-Key", "k-123", true},
		{"bearer", "Authorization", "Bearer t-456", true},
	}
	for _, ep := range endpoints {
		for _, cr := range creds {
			req := h.request(ep.method, ep.u, []byte(`{}`), false)
			if cr.header != "" {
				req.Header.Set(cr.header, cr.value)
			}
			code, _, body := h.do(req)
			switch {
			case cr.ok && code != http.StatusOK:
				t.Errorf("%s %s with %s: status %d, want 200", ep.method, ep.u, cr.name, code)
			case !cr.ok && code != http.StatusUnauthorized:
				t.Errorf("%s %s with %s: status %d, want 401", ep.method, ep.u, cr.name, code)
			case !cr.ok:
				if meta := errorMeta(t, body); meta["http_code"] != float64(401) {
					t.Errorf("401 body http_code %v", meta["http_code"])
				}
				if bytes.Contains(body, []byte("k-123")) || bytes.Contains(body, []byte("t-456")) {
					t.Errorf("401 body reveals a credential: %s", body)
				}
			}
		}
	}
	// Without a configured token, no bearer is accepted.
	h2 := newHarness(t, Config{Seed: 6, Clients: 1})
	req := h2.request(http.MethodGet, h2.listURL(nil), nil, false)
	req.Header.Set("Authorization", "Bearer ")
	if code, _, _ := h2.do(req); code != http.StatusUnauthorized {
		t.Errorf("empty bearer with no token configured: status %d, want 401", code)
	}
}

func TestListValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 7, Clients: 3})
	for _, q := range []url.Values{
		{"offset": {"x"}}, {"offset": {"-5"}}, {"offset": {"1.5"}},
		{"limit": {"-1"}}, {"limit": {"abc"}},
		{"sort": {"colour"}}, {"sort": {"--name"}}, {"sort": {"name,"}}, {"sort": {"contact_info.full_name"}},
		{"filters": {"not json"}}, {"filters": {`"str"`}}, {"filters": {`[1]`}}, {"filters": {`{"colour":1}`}},
		{"filters": {`{"created_at":"2024-01-01"}`}}, {"filters": {`{"a":1} {}`}},
	} {
		code, body := h.get(h.listURL(q))
		if code != http.StatusBadRequest {
			t.Errorf("list %v: status %d, want 400", q, code)
			continue
		}
		meta := errorMeta(t, body)
		if _, ok := meta["details"].(map[string]any); !ok {
			t.Errorf("list %v: 400 without details object: %s", q, body)
		}
	}
	// Wrong method and unknown paths.
	code, _, body := h.do(h.request(http.MethodPost, h.listURL(nil), []byte(`{}`), true))
	if code != http.StatusMethodNotAllowed {
		t.Errorf("POST clients: status %d, want 405", code)
	}
	errorMeta(t, body)
	code, _ = h.get(h.ts.URL + "/api/v2/partners/demo-partner/channels")
	if code != http.StatusNotFound {
		t.Errorf("unknown path: status %d, want 404", code)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	// Half a request per second with a burst of one: the second immediate
	// request is over the limit whatever the machine's speed.
	h := newHarness(t, Config{Seed: 8, Clients: 2, RPS: 0.5})
	if code, _ := h.get(h.listURL(nil)); code != http.StatusOK {
		t.Fatalf("first request: status %d, want 200", code)
	}
	code, header, body := h.do(h.request(http.MethodGet, h.listURL(nil), nil, true))
	if code != http.StatusTooManyRequests {
		t.Fatalf("second request: status %d, want 429", code)
	}
	ra, err := strconv.Atoi(header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After %q, want 1 or 2 seconds", header.Get("Retry-After"))
	}
	if meta := errorMeta(t, body); meta["http_code"] != float64(429) {
		t.Errorf("429 body http_code %v", meta["http_code"])
	}
	st := h.srv.Stats()
	if st.Throttled != 1 || st.ByEndpoint[EndpointListClients].Throttled != 1 || st.Requests != 2 {
		t.Errorf("stats %+v, want 2 requests and 1 throttled", st)
	}
}

func TestErrorRate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 9, Clients: 2, ErrorRate: 1})
	seen := map[int]bool{}
	for range 30 {
		code, body := h.get(h.listURL(nil))
		if code != 500 && code != 502 && code != 503 {
			t.Fatalf("status %d, want 500, 502 or 503", code)
		}
		seen[code] = true
		if meta := errorMeta(t, body); meta["http_code"] != float64(code) {
			t.Errorf("body http_code %v for status %d", meta["http_code"], code)
		}
	}
	if len(seen) < 2 {
		t.Errorf("30 injected errors used only %v", seen)
	}
	if st := h.srv.Stats(); st.Errors != 30 {
		t.Errorf("Stats.Errors = %d, want 30", st.Errors)
	}
	// Unauthenticated requests are refused before errors are injected.
	code, _, _ := h.do(h.request(http.MethodGet, h.listURL(nil), nil, false))
	if code != http.StatusUnauthorized {
		t.Errorf("unauthenticated with ErrorRate 1: status %d, want 401", code)
	}
}

// allChannels fetches every channel of the data set through the API.
func (h *harness) allChannels() []map[string]any {
	h.t.Helper()
	var out []map[string]any
	for _, id := range h.srv.ClientIDs() {
		out = append(out, h.channels(id)...)
	}
	return out
}

func strOrNull(v any) string {
	if v == nil {
		return "<null>"
	}
	return fmt.Sprint(v)
}

func TestDataCoversEveryDocumentedValue(t *testing.T) {
	t.Parallel()
	for _, seed := range []int64{1, 2, 3} {
		h := newHarness(t, Config{Seed: seed, Clients: 300})
		chans := h.allChannels()
		if len(chans) < 200 {
			t.Fatalf("seed %d: %d channels, want at least 200", seed, len(chans))
		}
		seen := map[string]map[string]int{}
		for _, ch := range chans {
			for _, f := range []string{"status", "availability_status", "hub_status", "current_limit", "current_quality_rating"} {
				if seen[f] == nil {
					seen[f] = map[string]int{}
				}
				seen[f][strOrNull(ch[f])]++
			}
			tp, _ := dig(ch, "settings.throughput")
			seen["throughput"] = cmpMap(seen["throughput"])
			seen["throughput"][fmt.Sprint(tp == nil)]++
			checkLifecycle(t, ch)
		}
		want := map[string][]string{
			"status":                 ChannelStatuses,
			"availability_status":    append(slices.Clone(AvailabilityStatuses), "<null>"),
			"hub_status":             HubStatuses,
			"current_limit":          Limits,
			"current_quality_rating": QualityRatings,
			"throughput":             {"true", "false"},
		}
		for f, values := range want {
			for _, v := range values {
				if seen[f][v] == 0 {
					t.Errorf("seed %d: no channel with %s %s (saw %v)", seed, f, v, seen[f])
				}
			}
		}
		if ready := seen["status"]["ready"]; ready*2 < len(chans) {
			t.Errorf("seed %d: %d of %d channels ready, want most", seed, ready, len(chans))
		}
	}
}

func cmpMap(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

// checkLifecycle asserts availability_status agrees with the timestamps.
func checkLifecycle(t *testing.T, ch map[string]any) {
	t.Helper()
	switch ch["availability_status"] {
	case "cancelled":
		if ch["cancelled_at"] == nil {
			t.Errorf("channel %s cancelled without cancelled_at", ch["id"])
		}
	case "inactive":
		if ch["terminated_at"] == nil {
			t.Errorf("channel %s inactive without terminated_at", ch["id"])
		}
	case "ready", "setting_up":
		if ch["terminated_at"] != nil || ch["cancelled_at"] != nil {
			t.Errorf("channel %s %s with cancelled_at %v terminated_at %v", ch["id"], ch["availability_status"], ch["cancelled_at"], ch["terminated_at"])
		}
	}
}

func TestDataLooksReal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 21, Clients: 300})
	clients := h.pageAll(nil, 300)
	var nonASCII, nullFB, noPayload, emoji int
	formats := map[string]int{}
	classify := func(s string) {
		switch {
		case strings.HasSuffix(s, "Z") && strings.Contains(s, "."):
			formats["fraction Z"]++
		case strings.HasSuffix(s, "Z"):
			formats["Z"]++
		case strings.HasSuffix(s, "+02:00"):
			formats["+02:00"]++
		case len(s) >= 19 && !strings.ContainsAny(s[19:], "+-Z"):
			formats["no zone"]++
		}
		parseLoose(t, s)
	}
	for _, raw := range clients {
		m := clientObj(t, raw)
		name := m["name"].(string)
		if strings.ContainsFunc(name, func(r rune) bool { return r > 127 }) {
			nonASCII++
		}
		if strings.ContainsFunc(name, func(r rune) bool { return r >= 0x1F300 }) {
			emoji++
		}
		if v, ok := m["fb_business_id"]; ok && v == nil {
			nullFB++
		}
		if _, ok := m["partner_payload"]; !ok {
			noPayload++
		}
		classify(m["created_at"].(string))
		classify(m["modified_at"].(string))
		for _, obj := range []string{"contact_info", "contact_user", "meta_info", "created_by", "modified_by"} {
			if _, ok := m[obj].(map[string]any); !ok {
				t.Fatalf("client %s: %s is %T, want an object", m["id"], obj, m[obj])
			}
		}
		if id := m["id"].(string); !strings.HasSuffix(id, "CL") || len(id) != 10 {
			t.Errorf("client id %q is not 8 characters + CL", id)
		}
	}
	for _, n := range []struct {
		what string
		n    int
	}{{"non-ASCII names", nonASCII}, {"emoji names", emoji}, {"null fb_business_id", nullFB}, {"absent partner_payload", noPayload}} {
		if n.n == 0 {
			t.Errorf("no client with %s among 300", n.what)
		}
	}
	for _, f := range []string{"Z", "fraction Z", "+02:00", "no zone"} {
		if formats[f] == 0 {
			t.Errorf("no timestamp in format %q (saw %v)", f, formats)
		}
	}
	var size, count, noChannels int
	for _, id := range h.srv.ClientIDs() {
		_, body := h.get(h.sharedURL(id))
		arr := decodeArray(t, body)
		if len(arr) == 0 {
			noChannels++
		}
		for _, ch := range arr {
			size += len(ch)
			count++
			m := clientObj(t, ch)
			if m["client_id"] != id {
				t.Errorf("channel %s of %s says client_id %v", m["id"], id, m["client_id"])
			}
			if pn, _ := dig(m, "setup_info.phone_number"); pn != nil && !strings.HasPrefix(pn.(string), "+") {
				t.Errorf("phone number %v is not E.164", pn)
			}
		}
	}
	if avg := size / count; avg < 800 || avg > 1400 {
		t.Errorf("channels average %d bytes of JSON, want about 1 KB", avg)
	}
	if noChannels == 0 {
		t.Error("every client has channels; want some without")
	}
}

func TestChurn(t *testing.T) {
	t.Parallel()
	a := newHarness(t, Config{Seed: 31, Clients: 80})
	b := newHarness(t, Config{Seed: 31, Clients: 80})
	before := a.snapshotAll()
	ra1, ra2 := a.srv.Churn(150), a.srv.Churn(150)
	rb1, rb2 := b.srv.Churn(150), b.srv.Churn(150)
	if fmt.Sprint(ra1, ra2) != fmt.Sprint(rb1, rb2) {
		t.Error("Churn reports differ for the same seed")
	}
	sa, sb := a.snapshotAll(), b.snapshotAll()
	if !bytes.Equal(sa, sb) {
		t.Error("data after the same churn differs for the same seed")
	}
	if bytes.Equal(before, sa) {
		t.Fatal("churn changed nothing that is served")
	}
	rep := ChurnReport{Changes: append(ra1.Changes, ra2.Changes...)}
	for _, k := range []ChangeKind{ChannelFieldChanged, ChannelAdded, ChannelRemoved, ClientAdded, ChannelMoved} {
		if rep.Count(k) == 0 {
			t.Errorf("300 churn operations made no %s", k)
		}
	}
	if rep.Count(ChannelFieldChanged) < len(rep.Changes)/2 {
		t.Errorf("only %d of %d changes are channel field changes; want most", rep.Count(ChannelFieldChanged), len(rep.Changes))
	}

	// The report tells the truth about the final state.
	served := map[string]map[string]any{}
	owner := map[string]string{}
	for _, id := range a.srv.ClientIDs() {
		for _, ch := range a.channels(id) {
			served[ch["id"].(string)] = ch
			owner[ch["id"].(string)] = id
		}
	}
	clients := map[string]bool{}
	for _, id := range a.srv.ClientIDs() {
		clients[id] = true
	}
	last := map[string]Change{}
	for _, c := range rep.Changes {
		switch c.Kind {
		case ChannelFieldChanged:
			last[c.ChannelID+"/"+c.Field] = c
		case ChannelAdded, ChannelMoved, ChannelRemoved:
			last[c.ChannelID] = c
		case ClientAdded, ClientRemoved:
			last[c.ClientID] = c
		}
	}
	for k, c := range last {
		switch c.Kind {
		case ChannelFieldChanged:
			ch, ok := served[c.ChannelID]
			if !ok {
				continue // removed later
			}
			if got := ch[c.Field]; (c.To == "" && got != nil) || (c.To != "" && got != c.To) {
				t.Errorf("%s: report says %q, served %v", k, c.To, got)
			}
		case ChannelRemoved:
			if _, ok := served[c.ChannelID]; ok {
				t.Errorf("channel %s reported removed but served", c.ChannelID)
			}
		case ChannelAdded, ChannelMoved:
			if got, ok := owner[c.ChannelID]; ok && got != c.ClientID {
				t.Errorf("channel %s reported under %s but served under %s", c.ChannelID, c.ClientID, got)
			} else if !ok {
				t.Errorf("channel %s reported %s but not served", c.ChannelID, c.Kind)
			}
		case ClientAdded:
			if !clients[c.ClientID] {
				t.Errorf("client %s reported added but not listed", c.ClientID)
			}
		case ClientRemoved:
			if clients[c.ClientID] {
				t.Errorf("client %s reported removed but listed", c.ClientID)
			}
		}
	}
	for _, ch := range served {
		checkLifecycle(t, ch)
	}
}

func TestFieldControls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 41, Clients: 6, ChannelsPerClient: 3})
	ids := h.srv.ClientIDs()
	id := ids[1]
	find := func(id string) map[string]any {
		p := h.list(url.Values{"filters": {fmt.Sprintf(`{"id":%q}`, id)}})
		if len(p.Clients) != 1 {
			t.Fatalf("client %s listed %d times", id, len(p.Clients))
		}
		return clientObj(t, p.Clients[0])
	}
	steps := []struct {
		path  string
		value any
		del   bool
		check func(map[string]any) bool
	}{
		{path: "name", value: "Neu & Co ✨", check: func(m map[string]any) bool { return m["name"] == "Neu & Co ✨" }},
		{path: "contact_info.email", value: "x@example.com", check: func(m map[string]any) bool { v, _ := dig(m, "contact_info.email"); return v == "x@example.com" }},
		{path: "contact_info.email", value: nil, check: func(m map[string]any) bool { v, ok := dig(m, "contact_info.email"); return ok && v == nil }},
		{path: "max_channels", value: "ten", check: func(m map[string]any) bool { return m["max_channels"] == "ten" }},
		{path: "max_channels", value: 4, check: func(m map[string]any) bool { return m["max_channels"] == float64(4) }},
		{path: "brand_new_field", value: map[string]any{"nested": []int{1, 2}}, check: func(m map[string]any) bool { v, _ := dig(m, "brand_new_field.nested"); return fmt.Sprint(v) == "[1 2]" }},
		{path: "contact_info.brand_new", value: 1, check: func(m map[string]any) bool { v, _ := dig(m, "contact_info.brand_new"); return v == float64(1) }},
		{path: "status", value: "brand_new_status", check: func(m map[string]any) bool { return m["status"] == "brand_new_status" }},
		{path: "name", value: nil, check: func(m map[string]any) bool { v, ok := m["name"]; return ok && v == nil }},
		{path: "name", del: true, check: func(m map[string]any) bool { _, ok := m["name"]; return !ok }},
		{path: "partner_payload", del: true, check: func(m map[string]any) bool { _, ok := m["partner_payload"]; return !ok }},
		{path: "contact_info", del: true, check: func(m map[string]any) bool { _, ok := m["contact_info"]; return !ok }},
		{path: "contact_info.city", value: "Köln", check: func(m map[string]any) bool { v, _ := dig(m, "contact_info.city"); return v == "Köln" }},
		{path: "created_at", value: "2024-03-01T12:00:00", check: func(m map[string]any) bool { return m["created_at"] == "2024-03-01T12:00:00" }},
		{path: "created_at", value: "yesterday", check: func(m map[string]any) bool { return m["created_at"] == "yesterday" }},
	}
	for _, st := range steps {
		var err error
		if st.del {
			err = h.srv.DeleteClientField(id, st.path)
		} else {
			err = h.srv.SetClientField(id, st.path, st.value)
		}
		if err != nil {
			t.Fatalf("set %s=%v (delete %v): %v", st.path, st.value, st.del, err)
		}
		if m := find(id); !st.check(m) {
			t.Fatalf("after set %s=%v (delete %v) the client is served as %v", st.path, st.value, st.del, m)
		}
	}
	// A typed set is visible to filters.
	if err := h.srv.SetClientField(ids[2], "status", "on_hold"); err != nil {
		t.Fatal(err)
	}
	if p := h.list(url.Values{"filters": {`{"status":"on_hold"}`}}); p.Total != 1 {
		t.Errorf("filter on a status set by SetClientField: total %d, want 1", p.Total)
	}

	ch := h.srv.ChannelIDs(ids[3])[0]
	owner := ids[3]
	for _, st := range []struct {
		path  string
		value any
	}{{"status", "error"}, {"brand_new_field", 1}, {"settings.throughput", nil}, {"setup_info.certificate", nil}, {"current_limit", 1000}} {
		if err := h.srv.SetChannelField(ch, st.path, st.value); err != nil {
			t.Fatalf("set channel %s: %v", st.path, err)
		}
	}
	if err := h.srv.DeleteChannelField(ch, "hub_status"); err != nil {
		t.Fatal(err)
	}
	got := h.channels(owner)[0]
	if got["status"] != "error" || got["brand_new_field"] != float64(1) || got["current_limit"] != float64(1000) {
		t.Errorf("channel served as %v", got)
	}
	if v, ok := dig(got, "settings.throughput"); !ok || v != nil {
		t.Errorf("settings.throughput = %v (present %v), want null", v, ok)
	}
	if v, ok := dig(got, "setup_info.certificate"); !ok || v != nil {
		t.Errorf("setup_info.certificate = %v, want null", v)
	}
	if _, ok := got["hub_status"]; ok {
		t.Error("hub_status still served after DeleteChannelField")
	}

	for _, err := range []error{
		h.srv.SetClientField("nopeCL", "name", "x"),
		h.srv.DeleteClientField("nopeCL", "name"),
		h.srv.SetChannelField("nopeCH", "status", "x"),
		h.srv.DeleteChannelField("nopeCH", "status"),
		h.srv.RemoveClient("nopeCL"),
		h.srv.RemoveChannel("nopeCH"),
		h.srv.MoveChannel("nopeCH", id),
		h.srv.MoveChannel(ch, "nopeCL"),
		h.srv.SetRawClient("nopeCL", []byte("{")),
		h.srv.SetRawSharedNumbers("nopeCL", []byte("[")),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("control on unknown id: error %v, want ErrNotFound", err)
		}
	}
	if err := h.srv.SetClientField(id, "x", make(chan int)); err == nil {
		t.Error("SetClientField with an unencodable value succeeded")
	}
}

func TestStructureControls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 42, Clients: 5, ChannelsPerClient: 2})
	newID := h.srv.AddClient()
	if p := h.list(url.Values{"limit": {"100"}}); p.Total != 6 {
		t.Errorf("after AddClient total %d, want 6", p.Total)
	}
	if chans := h.channels(newID); len(chans) != 0 {
		t.Errorf("new client has %d channels, want 0", len(chans))
	}
	chID := h.srv.AddChannel(newID)
	if chID == "" || !slices.Equal(h.srv.ChannelIDs(newID), []string{chID}) {
		t.Fatalf("AddChannel gave %q; client has %v", chID, h.srv.ChannelIDs(newID))
	}
	if h.srv.AddChannel("nopeCL") != "" {
		t.Error("AddChannel on an unknown client returned an id")
	}
	other := h.srv.ClientIDs()[0]
	if other == newID {
		other = h.srv.ClientIDs()[1]
	}
	if err := h.srv.MoveChannel(chID, other); err != nil {
		t.Fatal(err)
	}
	moved := h.channels(other)
	if last := moved[len(moved)-1]; last["id"] != chID || last["client_id"] != other {
		t.Errorf("moved channel served as %v under %s", last, other)
	}
	if len(h.channels(newID)) != 0 {
		t.Error("moved channel still served under its old client")
	}
	if err := h.srv.RemoveChannel(chID); err != nil {
		t.Fatal(err)
	}
	for _, ch := range h.channels(other) {
		if ch["id"] == chID {
			t.Error("removed channel still served")
		}
	}
	if err := h.srv.RemoveClient(newID); err != nil {
		t.Fatal(err)
	}
	if code, _ := h.get(h.sharedURL(newID)); code != http.StatusNotFound {
		t.Errorf("shared numbers of a removed client: status %d, want 404", code)
	}

	// Raw bodies are served verbatim, malformed or not.
	target := h.srv.ClientIDs()[2]
	if err := h.srv.SetRawClient(target, []byte(`{"id":"broken`)); err != nil {
		t.Fatal(err)
	}
	_, body := h.get(h.listURL(url.Values{"limit": {"100"}}))
	if !bytes.Contains(body, []byte(`,{"id":"broken,`)) && !bytes.Contains(body, []byte(`[{"id":"broken,`)) {
		t.Errorf("raw client not embedded verbatim in the page: %.400s", body)
	}
	if err := h.srv.SetRawClient(target, nil); err != nil {
		t.Fatal(err)
	}
	if _, body := h.get(h.listURL(url.Values{"limit": {"100"}})); !json.Valid(body) {
		t.Error("page still invalid after clearing the raw client")
	}
	if err := h.srv.SetRawSharedNumbers(target, []byte(`[{"id":`)); err != nil {
		t.Fatal(err)
	}
	if code, body := h.get(h.sharedURL(target)); code != 200 || string(body) != `[{"id":` {
		t.Errorf("raw shared numbers: status %d body %q", code, body)
	}
	if err := h.srv.SetRawSharedNumbers(target, nil); err != nil {
		t.Fatal(err)
	}
	h.channels(target) // valid again
}

func TestFault(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 51, Clients: 3})
	var calls atomic.Int32
	h.srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		case 2:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return false
			}
			_ = conn.Close()
			return true
		}
		return false
	})
	// Unauthenticated requests never reach the fault.
	if code, _, _ := h.do(h.request(http.MethodGet, h.listURL(nil), nil, false)); code != http.StatusUnauthorized {
		t.Errorf("unauthenticated: status %d, want 401", code)
	}
	if code, _ := h.get(h.listURL(nil)); code != http.StatusServiceUnavailable {
		t.Errorf("first faulted request: status %d, want 503", code)
	}
	// A fresh connection, so that the transport does not retry the GET on
	// another one.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	req := h.request(http.MethodGet, h.listURL(nil), nil, true)
	if resp, err := fresh.Do(req); err == nil {
		resp.Body.Close()
		t.Error("request on a hijacked and closed connection succeeded")
	}
	if code, _ := h.get(h.listURL(nil)); code != http.StatusOK {
		t.Errorf("after the fault passes: status %d, want 200", code)
	}
	h.srv.SetFault(nil)
	if n := calls.Load(); n != 3 {
		t.Errorf("fault called %d times, want 3", n)
	}
	st := h.srv.Stats()
	if st.Errors != 3 || st.ByStatus[503] != 1 || st.ByStatus[401] != 1 || st.ByStatus[200] != 1 {
		t.Errorf("stats %+v: want 3 errors (401, 503, hijack), one 200", st)
	}
}

func TestOnListCanChangeDataMidPaging(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 52, Clients: 20})
	var added atomic.Bool
	h.srv.OnList(func(offset, limit int) {
		if offset == 10 && !added.Swap(true) {
			h.srv.AddClient()
		}
	})
	first := h.list(url.Values{"limit": {"10"}})
	second := h.list(url.Values{"limit": {"10"}, "offset": {"10"}})
	h.srv.OnList(nil)
	if first.Total != 20 || second.Total != 21 {
		t.Errorf("totals %d then %d, want 20 then 21 (client added before the second page)", first.Total, second.Total)
	}
	if !added.Load() {
		t.Error("hook never saw offset 10")
	}
}

func TestLatencyRespectsCancellation(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Seed: 53, Clients: 1, Latency: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+"/api/v2/partners/demo-partner/clients", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", "demo-key")
	client := &http.Client{Timeout: 50 * time.Millisecond}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("request with an hour of latency answered within 50ms")
	}
	// Close waits for handlers; it returns only if the handler gave up
	// when the client went away.
	done := make(chan struct{})
	go func() { ts.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still waiting out its latency after the client left")
	}
}

func TestConcurrentUseWithChurn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Seed: 54, Clients: 60})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			h.srv.Churn(10)
		}
	}()
	for i := range 40 {
		q := url.Values{"limit": {"15"}, "offset": {strconv.Itoa(i % 60)}}
		if i%2 == 0 {
			q.Set("sort", "-name")
		}
		p := h.list(q)
		for _, raw := range p.Clients {
			if !json.Valid(raw) {
				t.Fatalf("invalid client JSON under churn: %s", raw)
			}
			id := idOf(t, raw)
			if code, _ := h.get(h.sharedURL(id)); code != http.StatusOK && code != http.StatusNotFound {
				t.Fatalf("shared numbers under churn: status %d", code)
			}
		}
	}
	<-done
}
