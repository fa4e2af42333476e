package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubsync/hubsync/sync/fakehub"
)

// binary is hubsync built once for the tests that need a real process
// (signals, SIGKILL).
var binary struct {
	once sync.Once
	path string
	err  error
}

func hubsyncBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "hubsync-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "hubsync")
		out, err := exec.Command("go", "build", "-o", binary.path, "../../cmd/hubsync").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// proc is a hubsync process whose output lines the test can wait on.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	added chan struct{}
	done  chan struct{}
}

func (h *harness) start(t *testing.T, extra map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(hubsyncBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range h.env {
		if _, ok := extra[k]; !ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{cmd: cmd, added: make(chan struct{}, 1), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.added <- struct{}{}:
			default:
			}
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitFor waits until n output lines contain substr, or fails after limit.
func (p *proc) waitFor(t *testing.T, substr string, n int, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for {
		if p.count(substr) >= n {
			return
		}
		select {
		case <-p.added:
		case <-p.done:
			if p.count(substr) >= n {
				return
			}
			t.Fatalf("process exited before %d lines with %q:\n%s", n, substr, p.output())
		case <-deadline:
			t.Fatalf("no %d lines with %q within %s:\n%s", n, substr, limit, p.output())
		}
	}
}

func (p *proc) count(substr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

func (p *proc) exitCode(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		t.Fatalf("process did not exit within %s:\n%s", limit, p.output())
		return -1
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServeReplicasNeverOverlapAndSurviveAKill(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Clients: 30, Latency: 15 * time.Millisecond})
	env := map[string]string{"HUBSYNC_SCHEDULE": "@every 1s", "HUBSYNC_CONCURRENCY": "2"}
	envA, envB := map[string]string{"HUBSYNC_HTTP_ADDR": freeAddr(t)}, map[string]string{"HUBSYNC_HTTP_ADDR": freeAddr(t)}
	for k, v := range env {
		envA[k], envB[k] = v, v
	}
	a := h.start(t, envA, "serve")
	b := h.start(t, envB, "serve")
	// Both replicas take part: each runs at least once, and each skips at
	// least once because the other holds the lock.
	a.waitFor(t, `"msg":"sync run finished","component":"syncer"`, 1, 60*time.Second)
	b.waitFor(t, `"msg":"sync run finished","component":"syncer"`, 1, 60*time.Second)
	// Kill one mid-life; the other keeps syncing.
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	after := b.count(`"msg":"sync run finished","component":"syncer"`)
	b.waitFor(t, `"msg":"sync run finished","component":"syncer"`, after+2, 60*time.Second)
	b.cmd.Process.Signal(syscall.SIGTERM)
	if code := b.exitCode(t, 60*time.Second); code != 0 {
		t.Errorf("surviving replica exited %d after SIGTERM", code)
	}

	// No two runs overlapped in time (runs abandoned by the killed process
	// excepted: their end is when a later run found them).
	rows, err := h.pool.Query(context.Background(), `
		SELECT a.id, b.id FROM hub.sync_runs a JOIN hub.sync_runs b ON a.id < b.id
		WHERE a.status <> 'abandoned' AND b.status <> 'abandoned'
		  AND tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var x, y int64
		rows.Scan(&x, &y)
		t.Errorf("runs %d and %d overlapped", x, y)
	}
	if n := h.count(`SELECT count(*) FROM hub.sync_runs WHERE status = 'succeeded'`); n < 3 {
		t.Errorf("only %d succeeded runs", n)
	}
	if n := h.count(`SELECT count(*) FROM hub.sync_runs WHERE status = 'running'`); n != 0 {
		t.Errorf("%d runs still marked running after the survivor's later runs", n)
	}
	if a.count("another run holds the lock")+b.count("another run holds the lock") == 0 {
		t.Errorf("no replica ever skipped a run: the lock was never contended")
	}
}

func TestServeSIGTERMDuringARunExitsCleanly(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Clients: 200, Latency: 40 * time.Millisecond})
	p := h.start(t, map[string]string{
		"HUBSYNC_HTTP_ADDR":      freeAddr(t),
		"HUBSYNC_RUN_AT_START":   "true",
		"HUBSYNC_SHUTDOWN_GRACE": "500ms",
		"HUBSYNC_CONCURRENCY":    "2",
		"HUBSYNC_PAGE_SIZE":      "10",
	}, "serve")
	// Wait until the run has committed a page or two, then stop it.
	p.waitFor(t, `"msg":"sync run started"`, 1, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for h.count(`SELECT coalesce(max(clients_seen), 0) FROM hub.sync_runs`) < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("the run wrote no page in 30s:\n%s", p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM, want 0:\n%s", code, p.output())
	}
	var status, errText string
	if err := h.pool.QueryRow(context.Background(), `SELECT status, coalesce(error, '') FROM hub.sync_runs ORDER BY id DESC LIMIT 1`).Scan(&status, &errText); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || !strings.Contains(errText, "shutdown") {
		t.Errorf("interrupted run: status %q, error %q; want failed with reason shutdown", status, errText)
	}
	// Consistent: every channel row has its history, no history without row.
	if n := h.count(`SELECT count(*) FROM hub.channels c WHERE NOT EXISTS (SELECT 1 FROM hub.channel_status_history s WHERE s.channel_id = c.id)`); n != 0 {
		t.Errorf("%d channels without history", n)
	}
	if n := h.count(`SELECT count(*) FROM hub.status_history s WHERE s.entity = 'channel' AND NOT EXISTS (SELECT 1 FROM hub.channels c WHERE c.id = s.entity_id)`); n != 0 {
		t.Errorf("%d history rows without a channel", n)
	}
	if n := h.count(`SELECT count(*) FROM hub.channels WHERE removed_at IS NOT NULL`); n != 0 {
		t.Errorf("the interrupted run removed %d channels", n)
	}
	// The next run completes.
	h.env["HUBSYNC_CONCURRENCY"] = "8"
	h.sync(0)
}

func TestServeMetricsAfterARun(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Clients: 25})
	_, weird := h.aChannel()
	if err := h.hub.SetChannelField(weird, "status", "brand_new_status"); err != nil {
		t.Fatal(err)
	}
	// One 429 on the first list request: a retry and a throttle to count.
	var once sync.Once
	h.hub.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		hit := false
		once.Do(func() { hit = true })
		if hit {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"meta":{"developer_message":"slow down","http_code":429,"success":false}}`)
		}
		return hit
	})
	addr := freeAddr(t)
	p := h.start(t, map[string]string{"HUBSYNC_HTTP_ADDR": addr, "HUBSYNC_RUN_AT_START": "true"}, "serve")
	p.waitFor(t, `"msg":"sync run finished","component":"schedule"`, 1, 60*time.Second)

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		fmt.Sscan(line[i+1:], &v)
		metrics[line[:i]] = v
	}
	clients, channels := h.hub.Counts()
	var pages int
	h.pool.QueryRow(context.Background(), `SELECT pages FROM hub.sync_runs`).Scan(&pages)
	want := map[string]float64{
		`hubsync_sync_runs_total{result="succeeded"}`:                                1,
		`hubsync_sync_run_duration_seconds_count`:                                    1,
		`hubsync_api_requests_total{code="200",endpoint="list_clients"}`:             float64(pages),
		`hubsync_api_requests_total{code="429",endpoint="list_clients"}`:             1,
		`hubsync_api_requests_total{code="200",endpoint="shared_numbers"}`:           float64(clients),
		`hubsync_api_retries_total{endpoint="list_clients",reason="429"}`:            1,
		`hubsync_api_throttled_total`:                                                1,
		`hubsync_rows_written_total{op="insert",table="channels"}`:                   float64(channels),
		`hubsync_rows_written_total{op="insert",table="clients"}`:                    float64(clients),
		`hubsync_transitions_total{attribute="status",entity="channel"}`:             float64(channels),
		`hubsync_unknown_enum_values_total{attribute="channel.status"}`:              1,
		`hubsync_channels{status="brand_new_status"}`:                                1,
		`hubsync_last_run_success`:                                                   1,
		`hubsync_api_request_duration_seconds_count{endpoint="shared_numbers"}`:      float64(clients),
		`hubsync_transitions_total{attribute="client_id",entity="channel"}`:          -1, // absent: no move
		`hubsync_rows_written_total{op="remove",table="channels"}`:                   -1,
		`hubsync_sync_runs_skipped_total`:                                            0,
		`hubsync_bad_records_total{entity="channel"}`:                                0,
		`hubsync_mass_removal_guard_trips_total{table="channels"}`:                   0,
		`hubsync_api_requests_total{code="200",endpoint="update_client"}`:            -1,
		`hubsync_transitions_total{attribute="availability_status",entity="client"}`: -1,
	}
	for k, v := range want {
		got, ok := metrics[k]
		switch {
		case v < 0 && ok:
			t.Errorf("%s = %v, want absent", k, got)
		case v >= 0 && !ok:
			t.Errorf("%s missing from /metrics", k)
		case v >= 0 && got != v:
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if metrics["hubsync_last_success_timestamp_seconds"] < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("hubsync_last_success_timestamp_seconds = %v, not recent", metrics["hubsync_last_success_timestamp_seconds"])
	}
	var sum float64
	for k, v := range metrics {
		if strings.HasPrefix(k, "hubsync_channels{") {
			sum += v
		}
	}
	if int(sum) != channels {
		t.Errorf("hubsync_channels sums to %v, want %d", sum, channels)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.exitCode(t, 30*time.Second)
}

// pgProxy forwards TCP to Postgres and can be switched off and on, to make
// the database unreachable without touching the shared server.
type pgProxy struct {
	target string
	ln     net.Listener
	addr   string
	mu     sync.Mutex
	up     bool
	conns  []net.Conn
}

func newPGProxy(t *testing.T, target string) *pgProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{target: target, ln: ln, addr: ln.Addr().String(), up: true}
	t.Cleanup(func() { ln.Close(); p.set(false) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			up := p.up
			p.mu.Unlock()
			if !up {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *pgProxy) set(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func TestReadyzFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Clients: 5})
	u := h.env["DATABASE_URL"]
	// postgres://user:pw@host:port/db?...: route host:port through the proxy.
	at := strings.Index(u, "@")
	slash := strings.Index(u[at:], "/") + at
	proxy := newPGProxy(t, u[at+1:slash])
	addr := freeAddr(t)
	p := h.start(t, map[string]string{
		"DATABASE_URL":      u[:at+1] + proxy.addr + u[slash:],
		"HUBSYNC_HTTP_ADDR": addr,
	}, "serve")
	p.waitFor(t, "scheduler started", 1, 30*time.Second)
	readyz := func() int {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitStatus := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for readyz() != want {
			if time.Now().After(deadline) {
				t.Fatalf("/readyz never answered %d", want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitStatus(200)
	proxy.set(false)
	waitStatus(503)
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz should stay 200 while the database is away: %v %v", resp, err)
	} else {
		var hz map[string]any
		json.NewDecoder(resp.Body).Decode(&hz)
		resp.Body.Close()
	}
	proxy.set(true)
	waitStatus(200)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exitCode(t, 30*time.Second); code != 0 {
		t.Errorf("serve exited %d", code)
	}
}
