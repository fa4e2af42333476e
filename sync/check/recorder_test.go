package check

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRecorderKeepsWholeBody: a body the reader stops short of (a JSON
// decoder leaves trailing bytes) is still recorded whole, with its
// rate-limit headers, under its call.
func TestRecorderKeepsWholeBody(t *testing.T) {
	t.Parallel()
	const body = `{"clients":[]}` + "\n\n   \n"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Remaining", "9")
		w.Header().Set("Retry-After", "1")
		w.Header().Set("X-Other", "x")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	rec := &recorder{next: ts.Client().Transport}
	hc := &http.Client{Transport: rec}
	req, err := http.NewRequestWithContext(withCall(t.Context(), 7), http.MethodGet, ts.URL+"/api/v2/partners/p/clients", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	ex := rec.answer(7)
	if ex == nil {
		t.Fatalf("no complete answer recorded for call 7; exchanges %+v", rec.exchanges())
	}
	if string(ex.body) != body || ex.endpoint != "list_clients" {
		t.Errorf("recorded %q at %s, want %q at list_clients", ex.body, ex.endpoint, body)
	}
	if len(ex.rateHeaders) != 2 || ex.rateHeaders["X-Ratelimit-Remaining"] != "9" || ex.rateHeaders["Retry-After"] != "1" {
		t.Errorf("rate headers %v, want X-Ratelimit-Remaining and Retry-After only", ex.rateHeaders)
	}
	if rec.answer(8) != nil {
		t.Error("an answer was recorded for a call that made no request")
	}
}
