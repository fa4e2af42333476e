package fakehub

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineWriter hands the first line written to it over a channel.
type lineWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	line chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if i := bytes.IndexByte(w.buf.Bytes(), '\n'); i >= 0 {
		select {
		case w.line <- string(w.buf.Bytes()[:i]):
		default:
		}
	}
	return len(p), nil
}

// signalHandler records log output and signals the first record with a
// given message.
type signalHandler struct {
	slog.Handler
	msg  string
	seen chan struct{}
	once *sync.Once
}

func (h signalHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.seen) })
	}
	return h.Handler.Handle(ctx, r)
}

func (h signalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesChurnsAndStops(t *testing.T) {
	t.Parallel()
	const secret = "env-secret-key-123"
	env := map[string]string{"FAKEHUB_API_KEY": secret, "FAKEHUB_CLIENTS": "7"}
	fs := flag.NewFlagSet("fakehub", flag.ContinueOnError)
	opts := RegisterFlagsEnv(fs, func(k string) string { return env[k] })
	if err := fs.Parse([]string{"--addr", "127.0.0.1:0", "--seed", "3", "--churn-interval", "5ms", "--churn-per-tick", "3"}); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	churned := make(chan struct{})
	logger := slog.New(signalHandler{Handler: slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}), msg: "fakehub churned", seen: churned, once: &sync.Once{}})
	out := &lineWriter{line: make(chan string, 1)}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts, out, logger) }()

	var line string
	select {
	case line = <-out.line:
	case err := <-done:
		t.Fatalf("Run returned before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run printed no line")
	}
	m := regexp.MustCompile(`^fakehub listening on (http://127\.0\.0\.1:\d+) \(partner demo-partner, 7 clients, \d+ channels\)$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("announcement %q does not match the expected shape", line)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, m[1]+"/api/v2/partners/demo-partner/clients", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", secret)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET from the running fakehub: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET clients with the env key: status %d, want 200", resp.StatusCode)
	}

	select {
	case <-churned:
	case <-time.After(30 * time.Second):
		t.Fatal("no churn tick was logged")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
	if strings.Contains(line, secret) || strings.Contains(logs.String(), secret) {
		t.Error("the API key appears in the output or the logs")
	}
}

func TestFlagsAndEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"FAKEHUB_API_KEY": "from-env-key", "FAKEHUB_TOKEN": "from-env-token", "FAKEHUB_SEED": "77",
		"FAKEHUB_LATENCY": "15ms", "FAKEHUB_RPS": "2.5", "FAKEHUB_MAX_LIMIT": "50",
	}
	fs := flag.NewFlagSet("fakehub", flag.ContinueOnError)
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	opts := RegisterFlagsEnv(fs, func(k string) string { return env[k] })
	if err := fs.Parse([]string{"--clients", "12", "--error-rate", "0.1", "--partner-id", "p1"}); err != nil {
		t.Fatal(err)
	}
	c := opts.Config
	if c.APIKey != "from-env-key" || c.Token != "from-env-token" || c.Seed != 77 || c.Latency != 15*time.Millisecond ||
		c.RPS != 2.5 || c.MaxLimit != 50 || c.Clients != 12 || c.ErrorRate != 0.1 || c.PartnerID != "p1" || opts.Addr != DefaultAddr {
		t.Errorf("options %+v (addr %s) do not reflect flags and environment", c, opts.Addr)
	}
	fs.PrintDefaults()
	for _, secret := range []string{"from-env-key", "from-env-token"} {
		if strings.Contains(usage.String(), secret) {
			t.Errorf("usage output reveals %q:\n%s", secret, usage.String())
		}
	}
	for _, name := range []string{"addr", "seed", "partner-id", "api-key", "token", "clients", "channels-per-client", "latency", "error-rate", "rps", "max-limit", "churn-interval", "churn-per-tick"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s is missing", name)
		}
	}
	if err := fs.Parse([]string{"--api-key", "flag-key"}); err != nil || opts.Config.APIKey != "flag-key" {
		t.Errorf("--api-key did not override the environment: %v, %q", err, opts.Config.APIKey)
	}

	// A malformed variable is reported by Run, naming the variable.
	bad := RegisterFlagsEnv(flag.NewFlagSet("x", flag.ContinueOnError), func(k string) string {
		if k == "FAKEHUB_CLIENTS" {
			return "many"
		}
		return ""
	})
	err := Run(t.Context(), bad, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "FAKEHUB_CLIENTS") {
		t.Errorf("Run with FAKEHUB_CLIENTS=many: %v, want an error naming the variable", err)
	}
}
