package deploy_test

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubsync/hubsync/sync/cli"
	"github.com/hubsync/hubsync/sync/dbtest"
	"github.com/hubsync/hubsync/sync/fakehub"
)

// repoRoot is the repository's top directory, relative to this package.
const repoRoot = ".."

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// partnerHub is a simulated partner served over HTTP.
type partnerHub struct {
	hub *fakehub.Server
	url string
}

func newPartnerHub(t *testing.T, cfg fakehub.Config) partnerHub {
	t.Helper()
	hub, err := fakehub.New(cfg)
	if err != nil {
		t.Fatalf("fakehub.New: %v", err)
	}
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	return partnerHub{hub: hub, url: srv.URL}
}

// env is the settings of a hubsync command against p and the database at
// dbURL, plus extra.
func (p partnerHub) env(dbURL string, extra map[string]string) map[string]string {
	e := map[string]string{
		"DATABASE_URL":       dbURL,
		"HUB_API_URL":        p.url,
		"HUB_PARTNER_ID":     p.hub.Config().PartnerID,
		"HUB_API_KEY":        p.hub.Config().APIKey,
		"HUBSYNC_RATE_LIMIT": "100000",
		"HUBSYNC_LOG_FORMAT": "json",
	}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

// syncOnce runs `hubsync sync` in process and fails the test unless it
// succeeds.
func syncOnce(t *testing.T, env map[string]string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"sync"}, cli.Env{
		Getenv:   func(k string) string { return env[k] },
		Stdout:   &out,
		Stderr:   &errb,
		Terminal: func() bool { return false },
	})
	if code != cli.ExitOK {
		t.Fatalf("hubsync sync exited %d, want %d\nstdout:\n%s\nstderr:\n%s", code, cli.ExitOK, out.String(), errb.String())
	}
}

// serving is `hubsync serve` running in process.
type serving struct {
	addr string
	log  *lineLog
}

// startServe starts `hubsync serve` in process with env (plus a free
// HUBSYNC_HTTP_ADDR and a run at start), waits for that first run to end,
// and stops serve when the test ends.
func startServe(t *testing.T, env map[string]string) serving {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := map[string]string{"HUBSYNC_HTTP_ADDR": addr, "HUBSYNC_RUN_AT_START": "true"}
	for k, v := range env {
		if _, ok := e[k]; !ok {
			e[k] = v
		}
	}
	log := newLineLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve"}, cli.Env{
			Getenv:   func(k string) string { return e[k] },
			Stdout:   log,
			Stderr:   log,
			Terminal: func() bool { return false },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != cli.ExitOK {
			t.Errorf("hubsync serve exited %d after cancel, want 0:\n%s", code, log.String())
		}
	})
	// The schedule logs "sync run finished" after /metrics has the run.
	select {
	case <-log.waitFor(`"msg":"sync run finished","component":"schedule"`):
	case code := <-done:
		done <- code
		t.Fatalf("hubsync serve exited %d before its first run finished:\n%s", code, log.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("hubsync serve's first run did not finish within 2 minutes:\n%s", log.String())
	}
	return serving{addr: addr, log: log}
}

// lineLog collects a command's output and signals when a line holding a
// given text has been written.
type lineLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	waiters map[string]chan struct{}
}

func newLineLog() *lineLog { return &lineLog{waiters: map[string]chan struct{}{}} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for text, ch := range l.waiters {
		if strings.Contains(l.buf.String(), text) {
			close(ch)
			delete(l.waiters, text)
		}
	}
	return len(p), nil
}

// waitFor returns a channel closed once text has been written.
func (l *lineLog) waitFor(text string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(l.buf.String(), text) {
		close(ch)
		return ch
	}
	l.waiters[text] = ch
	return ch
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newDB is a fresh migrated database for the test.
func newDB(t *testing.T) string {
	t.Helper()
	return dbtest.URL(t)
}
