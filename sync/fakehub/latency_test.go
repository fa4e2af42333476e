package fakehub

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEndpointLatencyRejectsNegative(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{ListLatency: -time.Millisecond},
		{SharedLatency: -time.Millisecond},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(ListLatency %v, SharedLatency %v) succeeded, want an error", cfg.ListLatency, cfg.SharedLatency)
		}
	}
}

func TestEndpointLatencyAddsToLatency(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Clients: 1, Latency: 20 * time.Millisecond, ListLatency: 200 * time.Millisecond, SharedLatency: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ep   endpoint
		want time.Duration
	}{
		{epList, 220 * time.Millisecond},
		{epShared, 25 * time.Millisecond},
		{epUpdate, 20 * time.Millisecond},
		{epOther, 20 * time.Millisecond},
	} {
		if got := s.latency(tc.ep); got != tc.want {
			t.Errorf("latency of %s = %v, want %v", endpointNames[tc.ep], got, tc.want)
		}
	}
}

// TestListLatencyDelaysOnlyTheList holds list requests for an hour: a
// shared-number request must still be answered while a list request waits,
// and the waiting list handler must give up when its client leaves.
func TestListLatencyDelaysOnlyTheList(t *testing.T) {
	t.Parallel()
	testOneEndpointSlow(t, Config{Seed: 61, Clients: 3, ListLatency: time.Hour}, true)
}

// TestSharedLatencyDelaysOnlySharedNumbers is the converse: shared-number
// requests wait an hour, list requests are answered.
func TestSharedLatencyDelaysOnlySharedNumbers(t *testing.T) {
	t.Parallel()
	testOneEndpointSlow(t, Config{Seed: 62, Clients: 3, SharedLatency: time.Hour}, false)
}

// testOneEndpointSlow starts a request to the slow endpoint (the list when
// listSlow, else the shared numbers), checks that the other endpoint answers
// 200 meanwhile and that the slow request has not been answered, then
// cancels it and checks that its handler returns.
func testOneEndpointSlow(t *testing.T, cfg Config, listSlow bool) {
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	listPath := "/api/v2/partners/demo-partner/clients"
	sharedPath := listPath + "/" + s.byID[0].id + "/shared_client_numbers"
	slowPath, fastPath, slowEp := sharedPath, listPath, EndpointSharedNumbers
	if listSlow {
		slowPath, fastPath, slowEp = listPath, sharedPath, EndpointListClients
	}
	// arrived is closed when the slow request reaches the Server, so that
	// the fast one is sent while the slow one is surely waiting.
	arrived := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == slowPath {
			close(arrived)
		}
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()
	slowURL, fastURL := ts.URL+slowPath, ts.URL+fastPath
	client := &http.Client{Timeout: time.Minute}
	get := func(ctx context.Context, u string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("X-API-Key", DefaultAPIKey)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}

	slowCtx, cancel := context.WithCancel(t.Context())
	slowDone := make(chan error, 1)
	go func() {
		_, err := get(slowCtx, slowURL)
		slowDone <- err
	}()
	select {
	case <-arrived:
	case err := <-slowDone:
		t.Fatalf("GET %s failed before it reached the server: %v", slowURL, err)
	}
	if code, err := get(t.Context(), fastURL); err != nil || code != http.StatusOK {
		t.Fatalf("GET %s while %s waits: status %d, error %v; want 200", fastURL, slowEp, code, err)
	}
	select {
	case err := <-slowDone:
		t.Fatalf("GET %s with an hour of latency returned (error %v) before it was cancelled", slowURL, err)
	default:
	}
	cancel()
	if err := <-slowDone; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled GET %s: error %v, want context.Canceled", slowURL, err)
	}
	// Close waits for handlers; it returns only if the slow handler gave up
	// when its client went away.
	closed := make(chan struct{})
	go func() { ts.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s handler still waiting out its latency after the client left", slowEp)
	}
	if st := s.Stats().ByEndpoint[slowEp]; st.Requests != 1 {
		t.Errorf("%s requests = %d, want 1 (the cancelled one)", slowEp, st.Requests)
	}
}

func TestEndpointLatencyFlagsAndEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{"FAKEHUB_LIST_LATENCY": "200ms", "FAKEHUB_SHARED_LATENCY": "5ms"}
	fs := flag.NewFlagSet("fakehub", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts := RegisterFlagsEnv(fs, func(k string) string { return env[k] })
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c := opts.Config; c.ListLatency != 200*time.Millisecond || c.SharedLatency != 5*time.Millisecond {
		t.Errorf("from the environment: list %v, shared %v; want 200ms, 5ms", c.ListLatency, c.SharedLatency)
	}
	if err := fs.Parse([]string{"--list-latency", "1s", "--shared-latency", "20ms"}); err != nil {
		t.Fatal(err)
	}
	if c := opts.Config; c.ListLatency != time.Second || c.SharedLatency != 20*time.Millisecond {
		t.Errorf("flags over the environment: list %v, shared %v; want 1s, 20ms", c.ListLatency, c.SharedLatency)
	}

	bad := RegisterFlagsEnv(flag.NewFlagSet("x", flag.ContinueOnError), func(k string) string {
		if k == "FAKEHUB_LIST_LATENCY" {
			return "slow"
		}
		return ""
	})
	if err := Run(t.Context(), bad, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "FAKEHUB_LIST_LATENCY") {
		t.Errorf("Run with FAKEHUB_LIST_LATENCY=slow: %v, want an error naming the variable", err)
	}
}
