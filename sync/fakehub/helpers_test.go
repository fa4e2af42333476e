package fakehub

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// harness is a Server behind an httptest.Server plus a client for it.
type harness struct {
	t    *testing.T
	srv  *Server
	ts   *httptest.Server
	http *http.Client
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return &harness{t: t, srv: s, ts: ts, http: &http.Client{Timeout: 30 * time.Second}}
}

func (h *harness) partner() string { return h.srv.Config().PartnerID }

func (h *harness) listURL(q url.Values) string {
	u := h.ts.URL + "/api/v2/partners/" + h.partner() + "/clients"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func (h *harness) clientURL(id string) string {
	return h.ts.URL + "/api/v2/partners/" + h.partner() + "/clients/" + id
}

func (h *harness) sharedURL(id string) string { return h.clientURL(id) + "/shared_client_numbers" }

// request builds an authenticated request (X-API-Key) unless auth is false.
func (h *harness) request(method, u string, body []byte, auth bool) *http.Request {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, u, rd)
	if err != nil {
		h.t.Fatalf("new request %s %s: %v", method, u, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("X-API-Key", h.srv.Config().APIKey)
	}
	return req
}

// do sends req and returns the status, headers and body.
func (h *harness) do(req *http.Request) (int, http.Header, []byte) {
	h.t.Helper()
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read body of %s %s: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, resp.Header, body
}

func (h *harness) get(u string) (int, []byte) {
	h.t.Helper()
	code, _, body := h.do(h.request(http.MethodGet, u, nil, true))
	return code, body
}

// page is PartnerClientsPublicOut with clients kept raw.
type page struct {
	Limit   int               `json:"limit"`
	Offset  int               `json:"offset"`
	Sort    []string          `json:"sort"`
	Filters map[string]any    `json:"filters"`
	Total   int               `json:"total"`
	Count   int               `json:"count"`
	Clients []json.RawMessage `json:"clients"`
}

func (h *harness) list(q url.Values) page {
	h.t.Helper()
	code, body := h.get(h.listURL(q))
	if code != http.StatusOK {
		h.t.Fatalf("GET clients %v: status %d, want 200; body %s", q, code, body)
	}
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		h.t.Fatalf("decode page %v: %v; body %.300s", q, err, body)
	}
	return p
}

// clientObj decodes one client object into a map.
func clientObj(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode object: %v; %.300s", err, raw)
	}
	return m
}

func idOf(t *testing.T, raw []byte) string {
	t.Helper()
	id, _ := clientObj(t, raw)["id"].(string)
	return id
}

// dig reads a dotted path out of a decoded object.
func dig(m map[string]any, path string) (any, bool) {
	var cur any = m
	for p := range strings.SplitSeq(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = obj[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

func (h *harness) channels(clientID string) []map[string]any {
	h.t.Helper()
	code, body := h.get(h.sharedURL(clientID))
	if code != http.StatusOK {
		h.t.Fatalf("GET shared numbers of %s: status %d, want 200; body %s", clientID, code, body)
	}
	var out []map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		h.t.Fatalf("decode shared numbers of %s: %v", clientID, err)
	}
	return out
}

// errorMeta decodes an error body's meta object, failing on any other shape.
func errorMeta(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var e struct {
		Meta map[string]any `json:"meta"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Meta == nil {
		t.Fatalf("error body is not {\"meta\":{...}}: %v; body %s", err, body)
	}
	for _, k := range []string{"developer_message", "http_code", "success", "360dialog_trace_id"} {
		if _, ok := e.Meta[k]; !ok {
			t.Errorf("error meta lacks %q: %s", k, body)
		}
	}
	if e.Meta["success"] != false {
		t.Errorf("error meta success = %v, want false", e.Meta["success"])
	}
	return e.Meta
}

func decodePage(t *testing.T, body []byte) page {
	t.Helper()
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("decode page: %v; body %.300s", err, body)
	}
	return p
}

func decodeArray(t *testing.T, body []byte) []json.RawMessage {
	t.Helper()
	var a []json.RawMessage
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("decode array: %v; body %.300s", err, body)
	}
	return a
}
