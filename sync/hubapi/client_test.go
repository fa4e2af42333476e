package hubapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testKey = "sekret-KEY-123"

// newTestClient returns a Client for srv with fast retries; mutate adjusts
// the config.
func newTestClient(t *testing.T, baseURL string, mutate func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		BaseURL:        baseURL,
		PartnerID:      "partner-1",
		APIKey:         testKey,
		RequestTimeout: 5 * time.Second,
		MaxElapsed:     10 * time.Second,
		InitialBackoff: 10 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: expected no error, got %v", err)
	}
	return c
}

// newServer starts an httptest server whose handler is told the 1-based
// number of the request it serves.
func newServer(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(int(hits.Add(1)), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// recorder collects hook calls.
type recorder struct {
	mu        sync.Mutex
	retries   []string
	responses []string
}

func (rec *recorder) hooks(cfg *Config) {
	cfg.OnRetry = func(endpoint, reason string) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.retries = append(rec.retries, endpoint+":"+reason)
	}
	cfg.OnResponse = func(endpoint string, code int, _ time.Duration) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.responses = append(rec.responses, fmt.Sprintf("%s:%d", endpoint, code))
	}
}

func (rec *recorder) get() (retries, responses []string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.retries), slices.Clone(rec.responses)
}

func writeJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

const okPage = `{"limit":10,"offset":0,"total":1,"count":1,"sort":["id"],"filters":{},"clients":[{"id":"c1","name":"Acme"}]}`

// hijackClose drops the connection without an answer, with a TCP reset.
func hijackClose(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// stall sends the headers and part of a body, then hangs until the client
// goes away or the test ends.
func stall(t *testing.T, done <-chan struct{}, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"limit":10,"clients":[`)
	w.(http.Flusher).Flush()
	select {
	case <-r.Context().Done():
	case <-done:
	}
}

func TestAuthHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, token   string
		wantKey, wantAuthz string
	}{
		{"key preferred", testKey, "tok-1", testKey, ""},
		{"key only", testKey, "", testKey, ""},
		{"bearer otherwise", "", "tok-1", "", "Bearer tok-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var gotKey, gotAuthz, gotAccept string
			srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				gotKey, gotAuthz, gotAccept = r.Header.Get("X-API-Key"), r.Header.Get("Authorization"), r.Header.Get("Accept")
				writeJSON(w, 200, okPage)
			})
			c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.APIKey, cfg.Token = tt.key, tt.token })
			if _, err := c.ListClients(context.Background(), ListParams{}); err != nil {
				t.Fatalf("ListClients: expected no error, got %v", err)
			}
			if gotKey != tt.wantKey || gotAuthz != tt.wantAuthz {
				t.Errorf("headers: expected X-API-Key=%q Authorization=%q, got %q %q", tt.wantKey, tt.wantAuthz, gotKey, gotAuthz)
			}
			if gotAccept != "application/json" {
				t.Errorf("Accept: expected application/json, got %q", gotAccept)
			}
		})
	}
}

func TestListClientsQueryAndPath(t *testing.T) {
	t.Parallel()
	var gotPath, gotMethod string
	var gotQuery map[string][]string
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		gotPath, gotMethod, gotQuery = r.URL.EscapedPath(), r.Method, r.URL.Query()
		writeJSON(w, 200, okPage)
	})
	c := newTestClient(t, srv.URL+"/", func(cfg *Config) { cfg.PartnerID = "p/1 x" })
	_, err := c.ListClients(context.Background(), ListParams{
		Offset: 200, Limit: 100, Sort: "-created_at",
		Filters: map[string]any{"status": "active", "contact_info.email": "a+b@example.com"},
	})
	if err != nil {
		t.Fatalf("ListClients: expected no error, got %v", err)
	}
	if want := "/api/v2/partners/p%2F1%20x/clients"; gotPath != want || gotMethod != "GET" {
		t.Errorf("request: expected GET %s, got %s %s", want, gotMethod, gotPath)
	}
	for k, want := range map[string]string{"offset": "200", "limit": "100", "sort": "-created_at"} {
		if got := gotQuery[k]; len(got) != 1 || got[0] != want {
			t.Errorf("query %s: expected [%s], got %v", k, want, got)
		}
	}
	var filters map[string]any
	if err := json.Unmarshal([]byte(firstOf(gotQuery["filters"])), &filters); err != nil {
		t.Fatalf("filters: expected a JSON object, got %q (%v)", firstOf(gotQuery["filters"]), err)
	}
	if want := map[string]any{"status": "active", "contact_info.email": "a+b@example.com"}; !reflect.DeepEqual(filters, want) {
		t.Errorf("filters: expected %v, got %v", want, filters)
	}

	// Zero params: offset only, nothing else.
	if _, err := c.ListClients(context.Background(), ListParams{}); err != nil {
		t.Fatalf("ListClients: expected no error, got %v", err)
	}
	if want := map[string][]string{"offset": {"0"}}; !reflect.DeepEqual(gotQuery, want) {
		t.Errorf("default query: expected %v, got %v", want, gotQuery)
	}
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func TestListClientsKeepsRecordsAsSent(t *testing.T) {
	t.Parallel()
	body := `{
	  "limit": 5, "offset": 10, "total": 42, "count": 5, "sort": ["-created_at"], "filters": {"status": "active"},
	  "clients": [
	    {"id": "good-1", "name": "One", "brand_new": {"x": 1}},
	    {"id": "bad-type", "name": "Two\u0000", "max_channels": "ten", "id": "dup"},
	    {"name": "no id here"},
	    null,
	    "\ud83d"
	  ]
	}`
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, body) })
	c := newTestClient(t, srv.URL, nil)
	page, err := c.ListClients(context.Background(), ListParams{Offset: 10, Limit: 5})
	if err != nil {
		t.Fatalf("ListClients: expected no error, got %v", err)
	}
	if page.Limit != 5 || page.Offset != 10 || page.Total != 42 || !page.TotalKnown {
		t.Errorf("envelope: expected limit 5 offset 10 total 42 (known), got %+v", page)
	}
	want := []string{
		`{"id": "good-1", "name": "One", "brand_new": {"x": 1}}`,
		`{"id": "bad-type", "name": "Two\u0000", "max_channels": "ten", "id": "dup"}`,
		`{"name": "no id here"}`,
		`null`,
		`"\ud83d"`,
	}
	var got []string
	for _, r := range page.Records {
		got = append(got, string(r))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records: expected every element byte for byte\n%q\ngot\n%q", want, got)
	}
}

func TestListClientsWithoutTotal(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"clients":[{"id":"a"},{"id":"b"}],"total":null}`)
	})
	page, err := newTestClient(t, srv.URL, nil).ListClients(context.Background(), ListParams{})
	if err != nil {
		t.Fatalf("ListClients: expected no error, got %v", err)
	}
	if page.TotalKnown || len(page.Records) != 2 {
		t.Errorf("page: expected TotalKnown=false and 2 records, got %v and %d", page.TotalKnown, len(page.Records))
	}
}

func TestSharedNumbers(t *testing.T) {
	t.Parallel()
	var gotPath string
	body := `[
		  {"id":"ch1","client_id":"c/1","status":"ready","setup_info":{"phone_number":"+1555"},"future":true},
		  {"id":"ch2","availability_status":"setting_up"},
		  {"id":"ch3","status":42},
		  {"status":"ready"}
		]`
	srv, _ := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.EscapedPath()
		if n == 2 {
			writeJSON(w, 200, `null`)
			return
		}
		writeJSON(w, 200, body)
	})
	c := newTestClient(t, srv.URL, nil)
	recs, err := c.SharedNumbers(context.Background(), "c/1")
	if err != nil {
		t.Fatalf("SharedNumbers: expected no error, got %v", err)
	}
	if want := "/api/v2/partners/partner-1/clients/c%2F1/shared_client_numbers"; gotPath != want {
		t.Errorf("path: expected %s, got %s", want, gotPath)
	}
	if len(recs) != 4 || string(recs[2]) != `{"id":"ch3","status":42}` {
		t.Fatalf("records: expected the 4 elements as sent, got %q", recs)
	}
	if recs, err := c.SharedNumbers(context.Background(), "c/1"); err != nil || len(recs) != 0 {
		t.Errorf("a null answer: expected no records and no error, got %q, %v", recs, err)
	}
}

func TestUpdateClient(t *testing.T) {
	t.Parallel()
	var gotMethod, gotPath, gotBody, gotCT string
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotMethod, gotPath, gotBody, gotCT = r.Method, r.URL.EscapedPath(), string(b), r.Header.Get("Content-Type")
		writeJSON(w, 200, `{"id":"c 1","max_channels":7,"partner_payload":""}`)
	})
	c := newTestClient(t, srv.URL, nil)
	n, empty := int64(7), ""
	rec, err := c.UpdateClient(context.Background(), "c 1", ClientUpdate{MaxChannels: &n, PartnerPayload: &empty})
	if err != nil {
		t.Fatalf("UpdateClient: expected no error, got %v", err)
	}
	if gotMethod != "PATCH" || gotPath != "/api/v2/partners/partner-1/clients/c%201" || gotCT != "application/json" {
		t.Errorf("request: expected PATCH /api/v2/partners/partner-1/clients/c%%201 (json), got %s %s (%s)", gotMethod, gotPath, gotCT)
	}
	if want := `{"partner_payload":"","max_channels":7}`; gotBody != want {
		t.Errorf("body: expected %s, got %s", want, gotBody)
	}
	if want := `{"id":"c 1","max_channels":7,"partner_payload":""}`; string(rec) != want {
		t.Errorf("answer: expected %s as sent, got %s", want, rec)
	}

	if _, err := c.UpdateClient(context.Background(), "c1", ClientUpdate{}); err == nil {
		t.Error("empty update: expected an error, got nil")
	}
	for _, id := range []string{"", ".", ".."} {
		if _, err := c.UpdateClient(context.Background(), id, ClientUpdate{MaxChannels: &n}); err == nil {
			t.Errorf("client id %q: expected an error, got nil", id)
		}
	}
}

func TestErrorShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   Error
		text   string
	}{
		{
			name: "400 DefaultValidationError", status: 400,
			body: `{"meta":{"developer_message":"invalid sort","http_code":400,"success":false,"360dialog_trace_id":"abc-123","details":{"sort":["not allowed"]}}}`,
			want: Error{StatusCode: 400, DeveloperMessage: "invalid sort", HTTPCode: 400, TraceID: "abc-123",
				Details: map[string]any{"sort": []any{"not allowed"}}, Endpoint: EndpointListClients},
			text: "hub api list_clients: 400 Bad Request: invalid sort (trace abc-123)",
		},
		{
			name: "404 DefaultHttpError", status: 404,
			body: `{"meta":{"developer_message":"partner not found","http_code":404,"success":false,"360dialog_trace_id":"t-9"}}`,
			want: Error{StatusCode: 404, DeveloperMessage: "partner not found", HTTPCode: 404, TraceID: "t-9", Endpoint: EndpointListClients},
			text: "hub api list_clients: 404 Not Found: partner not found (trace t-9)",
		},
		{
			name: "502 not JSON", status: 502,
			body: "<html>\n<body>502 Bad Gateway</body>\n</html>",
			want: Error{StatusCode: 502, Endpoint: EndpointListClients, Body: "<html> <body>502 Bad Gateway</body> </html>"},
			text: "hub api list_clients: 502 Bad Gateway: <html> <body>502 Bad Gateway</body> </html>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, hits := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxElapsed = 100 * time.Millisecond })
			_, err := c.ListClients(context.Background(), ListParams{})
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error: expected *Error, got %T %v", err, err)
			}
			if !reflect.DeepEqual(*apiErr, tt.want) {
				t.Errorf("fields: expected %+v, got %+v", tt.want, *apiErr)
			}
			if got := apiErr.Error(); got != tt.text {
				t.Errorf("Error(): expected %q, got %q", tt.text, got)
			}
			if tt.status < 500 && hits.Load() != 1 {
				t.Errorf("%d: expected no retry (1 request), got %d", tt.status, hits.Load())
			}
			if tt.status >= 500 && hits.Load() < 2 {
				t.Errorf("%d: expected retries, got %d request(s)", tt.status, hits.Load())
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header func() string
		min    time.Duration
	}{
		{"seconds", func() string { return "1" }, 950 * time.Millisecond},
		// HTTP dates have whole seconds: 2s ahead is 1–2s of real delay.
		{"http-date", func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 950 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var first time.Time
			var second time.Time
			srv, _ := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					first = time.Now()
					w.Header().Set("Retry-After", tt.header())
					writeJSON(w, 429, `{"meta":{"developer_message":"slow down","http_code":429,"success":false}}`)
					return
				}
				second = time.Now()
				writeJSON(w, 200, okPage)
			})
			rec := &recorder{}
			c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RateLimit = 10; rec.hooks(cfg) })
			if _, err := c.ListClients(context.Background(), ListParams{}); err != nil {
				t.Fatalf("ListClients: expected success after the 429, got %v", err)
			}
			if gap := second.Sub(first); gap < tt.min {
				t.Errorf("Retry-After: expected the retry at least %v after the 429, got %v", tt.min, gap)
			}
			if st := c.Stats(); st != (Stats{Requests: 2, Retries: 1, Throttled: 1}) {
				t.Errorf("Stats: expected {2 1 1}, got %+v", st)
			}
			if got := c.Pacer().Limit(); got >= 10 {
				t.Errorf("pacer: expected the rate lowered below 10 after a 429, got %v", got)
			}
			retries, responses := rec.get()
			if want := []string{"list_clients:429"}; !reflect.DeepEqual(retries, want) {
				t.Errorf("OnRetry: expected %v, got %v", want, retries)
			}
			if want := []string{"list_clients:429", "list_clients:200"}; !reflect.DeepEqual(responses, want) {
				t.Errorf("OnResponse: expected %v, got %v", want, responses)
			}
		})
	}
}

func Test429PausesOtherCalls(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, 429, `{}`)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/shared_client_numbers") {
			writeJSON(w, 200, `[]`)
			return
		}
		writeJSON(w, 200, okPage)
	})
	throttled := make(chan struct{}, 1)
	c := newTestClient(t, srv.URL, func(cfg *Config) {
		cfg.OnRetry = func(string, string) {
			select {
			case throttled <- struct{}{}:
			default:
			}
		}
	})
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := c.ListClients(context.Background(), ListParams{}); err != nil {
			t.Errorf("ListClients: expected success, got %v", err)
		}
	})
	<-throttled
	start := time.Now()
	if _, err := c.SharedNumbers(context.Background(), "c1"); err != nil {
		t.Errorf("SharedNumbers: expected success, got %v", err)
	}
	if got := time.Since(start); got < 800*time.Millisecond {
		t.Errorf("other call during a 1s Retry-After pause: expected to wait at least ~0.8s, waited %v", got)
	}
	wg.Wait()
}

func Test5xxRetriedThenSuccess(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			writeJSON(w, 503, `{"meta":{"developer_message":"down","http_code":503,"success":false}}`)
			return
		}
		writeJSON(w, 200, `[{"id":"ch1","client_id":"c1","status":"ready"}]`)
	})
	rec := &recorder{}
	c := newTestClient(t, srv.URL, rec.hooks)
	chans, err := c.SharedNumbers(context.Background(), "c1")
	if err != nil || len(chans) != 1 {
		t.Fatalf("SharedNumbers: expected 1 channel after retries, got %d, %v", len(chans), err)
	}
	if hits.Load() != 3 {
		t.Errorf("requests: expected 3, got %d", hits.Load())
	}
	retries, _ := rec.get()
	if want := []string{"shared_numbers:5xx", "shared_numbers:5xx"}; !reflect.DeepEqual(retries, want) {
		t.Errorf("OnRetry: expected %v, got %v", want, retries)
	}
	if st := c.Stats(); st.Requests != 3 || st.Retries != 2 || st.Throttled != 0 {
		t.Errorf("Stats: expected 3 requests, 2 retries, 0 throttled, got %+v", st)
	}
}

func TestRetriesGiveUpAfterMaxElapsed(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) { writeJSON(w, 500, `oops`) })
	c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxElapsed = 300 * time.Millisecond })
	_, err := c.ListClients(context.Background(), ListParams{})
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 {
		t.Fatalf("error: expected *Error 500 after giving up, got %v", err)
	}
	if !strings.Contains(err.Error(), "gave up after") || hits.Load() < 2 {
		t.Errorf("error: expected several attempts reported, got %d requests and %q", hits.Load(), err)
	}
}

func TestStallAfterHeadersTimesOutAndRetries(t *testing.T) {
	t.Parallel()
	done := make(chan struct{})
	srv, hits := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			stall(t, done, w, r)
			return
		}
		writeJSON(w, 200, okPage)
	})
	t.Cleanup(func() { close(done) })
	rec := &recorder{}
	c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RequestTimeout = 300 * time.Millisecond; rec.hooks(cfg) })
	page, err := c.ListClients(context.Background(), ListParams{})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("ListClients: expected success after a stalled attempt, got %v", err)
	}
	if hits.Load() != 2 {
		t.Errorf("requests: expected 2, got %d", hits.Load())
	}
	retries, responses := rec.get()
	if want := []string{"list_clients:timeout"}; !reflect.DeepEqual(retries, want) {
		t.Errorf("OnRetry: expected %v, got %v", want, retries)
	}
	if want := []string{"list_clients:0", "list_clients:200"}; !reflect.DeepEqual(responses, want) {
		t.Errorf("OnResponse: expected %v, got %v", want, responses)
	}
}

func TestConnectionResetRetried(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			hijackClose(t, w)
			return
		}
		writeJSON(w, 200, okPage)
	})
	rec := &recorder{}
	c := newTestClient(t, srv.URL, rec.hooks)
	if _, err := c.ListClients(context.Background(), ListParams{}); err != nil {
		t.Fatalf("ListClients: expected success after a reset, got %v", err)
	}
	if hits.Load() != 2 {
		t.Errorf("requests: expected 2, got %d", hits.Load())
	}
	if retries, _ := rec.get(); len(retries) != 1 || retries[0] != "list_clients:reset" {
		t.Errorf("OnRetry: expected [list_clients:reset], got %v", retries)
	}
}

func TestTruncatedBodyRetried(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		switch n {
		case 1: // the connection ends before Content-Length bytes
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, `{"clients":[{"id":"c1"`)
		case 2: // complete as HTTP, but not valid JSON
			writeJSON(w, 200, `{"clients":[{"id":"c1"`)
		default:
			writeJSON(w, 200, okPage)
		}
	})
	rec := &recorder{}
	c := newTestClient(t, srv.URL, rec.hooks)
	if _, err := c.ListClients(context.Background(), ListParams{}); err != nil {
		t.Fatalf("ListClients: expected success after truncated answers, got %v", err)
	}
	if hits.Load() != 3 {
		t.Errorf("requests: expected 3, got %d", hits.Load())
	}
	if retries, _ := rec.get(); !reflect.DeepEqual(retries, []string{"list_clients:truncated", "list_clients:truncated"}) {
		t.Errorf("OnRetry: expected two truncated retries, got %v", retries)
	}
}

func TestPatchNotRetriedOnceSent(t *testing.T) {
	t.Parallel()
	n := int64(3)
	tests := []struct {
		name    string
		handler func(t *testing.T, done <-chan struct{}, w http.ResponseWriter, r *http.Request)
	}{
		{"reset", func(t *testing.T, _ <-chan struct{}, w http.ResponseWriter, _ *http.Request) { hijackClose(t, w) }},
		{"timeout", stall},
		{"503", func(_ *testing.T, _ <-chan struct{}, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, 503, `{}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			done := make(chan struct{})
			srv, hits := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				tt.handler(t, done, w, r)
			})
			t.Cleanup(func() { close(done) })
			c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RequestTimeout = 300 * time.Millisecond })
			_, err := c.UpdateClient(context.Background(), "c1", ClientUpdate{MaxChannels: &n})
			if !errors.Is(err, ErrOutcomeUnknown) {
				t.Errorf("error: expected ErrOutcomeUnknown, got %v", err)
			}
			if hits.Load() != 1 {
				t.Errorf("requests: expected exactly 1 PATCH (no retry), got %d", hits.Load())
			}
			if st := c.Stats(); st.Retries != 0 {
				t.Errorf("Stats.Retries: expected 0, got %d", st.Retries)
			}
		})
	}
}

func TestPatchRetriedAfterDialError(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"id":"c1","max_channels":3}`)
	})
	// An address where nothing listens: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()

	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		if dials.Add(1) == 1 {
			return d.DialContext(ctx, network, dead)
		}
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	rec := &recorder{}
	c := newTestClient(t, srv.URL, func(cfg *Config) {
		cfg.HTTPClient = &http.Client{Transport: tr}
		rec.hooks(cfg)
	})
	n := int64(3)
	pc, err := c.UpdateClient(context.Background(), "c1", ClientUpdate{MaxChannels: &n})
	if err != nil {
		t.Fatalf("UpdateClient: expected success after a dial error, got %v", err)
	}
	if !strings.Contains(string(pc), `"c1"`) || hits.Load() != 1 || dials.Load() != 2 {
		t.Errorf("expected client c1 after 2 dials and 1 PATCH served, got %s, %d dials, %d served", pc, dials.Load(), hits.Load())
	}
	if retries, _ := rec.get(); !reflect.DeepEqual(retries, []string{"update_client:dial"}) {
		t.Errorf("OnRetry: expected [update_client:dial], got %v", retries)
	}
}

func TestPatchRetriedAfter429(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			writeJSON(w, 429, `{"meta":{"developer_message":"too many","http_code":429,"success":false}}`)
			return
		}
		writeJSON(w, 200, `{"id":"c1"}`)
	})
	c := newTestClient(t, srv.URL, nil)
	p := "x"
	if _, err := c.UpdateClient(context.Background(), "c1", ClientUpdate{PartnerPayload: &p}); err != nil {
		t.Fatalf("UpdateClient: expected success after a 429, got %v", err)
	}
	if hits.Load() != 2 {
		t.Errorf("requests: expected 2, got %d", hits.Load())
	}
}

func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 { // logged as a retry
			writeJSON(w, 503, `{"meta":{"developer_message":"upstream saw key `+testKey+`","http_code":503,"success":false}}`)
			return
		}
		writeJSON(w, 401, `{"meta":{"developer_message":"invalid key `+r.Header.Get("X-API-Key")+`","http_code":401,"success":false,"details":{"key":"`+testKey+`"}}}`)
	})
	var logs safeBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Logger = logger })
	_, err := c.ListClients(context.Background(), ListParams{})
	if err == nil {
		t.Fatal("ListClients: expected a 401 error, got nil")
	}
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("error: expected *Error 401, got %v", err)
	}
	if strings.Contains(err.Error(), testKey) || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("error: expected the key redacted, got %q", err.Error())
	}
	if fmt.Sprint(apiErr.Details) != "map[key:[REDACTED]]" {
		t.Errorf("details: expected the key redacted, got %v", apiErr.Details)
	}
	if !strings.Contains(logs.String(), "hub api retry") || strings.Contains(logs.String(), testKey) {
		t.Errorf("logs: expected a retry line without the key, got %q", logs.String())
	}

	// Transport errors and bearer tokens too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	dead := "http://" + ln.Addr().String()
	_ = ln.Close()
	for _, cfg := range []func(*Config){
		func(cfg *Config) { cfg.MaxElapsed = 50 * time.Millisecond },
		func(cfg *Config) { cfg.APIKey, cfg.Token, cfg.MaxElapsed = "", testKey, 50*time.Millisecond },
	} {
		c := newTestClient(t, dead, cfg)
		_, err := c.ListClients(context.Background(), ListParams{})
		if err == nil || strings.Contains(err.Error(), testKey) {
			t.Errorf("transport error: expected an error without the secret, got %v", err)
		}
	}
	if _, err := New(Config{BaseURL: "http://user:" + testKey + "@example.com", PartnerID: "p"}); err == nil || strings.Contains(err.Error(), testKey) {
		t.Errorf("New with credentials in the URL: expected an error without them, got %v", err)
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestContextCancelStopsRetryWait(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		writeJSON(w, 429, `{}`)
	})
	hit := make(chan struct{}, 1) // the 429 was handled and a retry is due
	c := newTestClient(t, srv.URL, func(cfg *Config) {
		cfg.MaxElapsed = time.Minute
		cfg.OnRetry = func(string, string) {
			select {
			case hit <- struct{}{}:
			default:
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.ListClients(ctx, ListParams{})
		errc <- err
	}()
	<-hit
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error: expected context.Canceled, got %v", err)
		}
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
			t.Errorf("error: expected the last 429 kept in the chain, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListClients: expected to return on cancel, still waiting after 5s")
	}
}

func TestEnvelopeErrorsArePermanent(t *testing.T) {
	t.Parallel()
	srv, hits := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"clients":"nope"}`)
	})
	c := newTestClient(t, srv.URL, nil)
	if _, err := c.ListClients(context.Background(), ListParams{}); err == nil {
		t.Error("ListClients: expected an error for clients of the wrong type, got nil")
	}
	if hits.Load() != 1 {
		t.Errorf("requests: expected 1 (valid JSON of a wrong shape is not retried), got %d", hits.Load())
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"ok", Config{BaseURL: "https://hub.360dialog.io", PartnerID: "p"}, true},
		{"ok with path prefix", Config{BaseURL: "http://proxy.local/hub/", PartnerID: "p"}, true},
		{"no url", Config{PartnerID: "p"}, false},
		{"relative", Config{BaseURL: "/api", PartnerID: "p"}, false},
		{"ftp", Config{BaseURL: "ftp://hub.360dialog.io", PartnerID: "p"}, false},
		{"no host", Config{BaseURL: "https://", PartnerID: "p"}, false},
		{"query", Config{BaseURL: "https://hub.360dialog.io?x=1", PartnerID: "p"}, false},
		{"no partner", Config{BaseURL: "https://hub.360dialog.io", PartnerID: " "}, false},
		{"negative rate", Config{BaseURL: "https://hub.360dialog.io", PartnerID: "p", RateLimit: -1}, false},
		{"newline in key", Config{BaseURL: "https://hub.360dialog.io", PartnerID: "p", APIKey: "a\nb"}, false},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if (err == nil) != tt.ok {
			t.Errorf("%s: expected ok=%v, got error %v", tt.name, tt.ok, err)
		}
	}
}

func TestDefaultHTTPClientRefusesCrossHostRedirect(t *testing.T) {
	t.Parallel()
	var leaked atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("X-API-Key"))
		writeJSON(w, 200, okPage)
	}))
	t.Cleanup(other.Close)
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		// 127.0.0.1 vs localhost: another host as far as the client knows.
		http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+r.URL.Path, http.StatusFound)
	})
	c := newTestClient(t, srv.URL, nil)
	if _, err := c.ListClients(context.Background(), ListParams{}); err == nil {
		t.Error("ListClients: expected an error for a cross-host redirect, got nil")
	}
	if v, _ := leaked.Load().(string); v != "" {
		t.Errorf("redirect: expected the key not sent to another host, got %q", v)
	}
}

// Time a call spends queued behind others in the shared Pacer is not part of
// its retry budget: with a low rate and many calls in flight, each call is
// slow, but none gives up while the server is merely refusing once.
func TestPacerQueueDoesNotSpendRetryBudget(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	failedOnce := map[string]bool{}
	srv, hits := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !failedOnce[r.URL.Path]
		failedOnce[r.URL.Path] = true
		mu.Unlock()
		if first {
			writeJSON(w, 503, `{"meta":{"developer_message":"busy","http_code":503}}`)
			return
		}
		writeJSON(w, 200, `[]`)
	})
	c := newTestClient(t, srv.URL, func(cfg *Config) {
		cfg.RateLimit = 10
		cfg.MaxElapsed = 150 * time.Millisecond
	})
	const calls = 6 // 12 requests at 10/s: most calls queue far longer than 150ms
	errs := make(chan error, calls)
	for i := range calls {
		go func() {
			_, err := c.SharedNumbers(context.Background(), fmt.Sprintf("c%d", i))
			errs <- err
		}()
	}
	for range calls {
		if err := <-errs; err != nil {
			t.Errorf("SharedNumbers: expected success after one 503, got %v", err)
		}
	}
	if hits.Load() != 2*calls {
		t.Errorf("requests: expected %d, got %d", 2*calls, hits.Load())
	}
}
