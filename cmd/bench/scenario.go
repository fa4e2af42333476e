package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// result is one measured sync run.
type result struct {
	name, title string
	wall        time.Duration
	maxRSSKB    int64
	cpu         time.Duration // user + system time of the sync process
	machineBusy float64       // share of all CPUs busy during the run (every process), 0..1; -1 unknown
	run         runRow
	history     int64
	touched     int64 // client and channel rows written or locked
	walCluster  int64
	walDB       int64 // -1 when unknown
	simRequests int64 // requests the simulator answered during the run
	simThrottle int64 // of which 429
	exitErr     error
	logPath     string
}

// syncEnv is what a sync subprocess is started with.
type syncEnv struct {
	bin, workDir      string
	pageSize, conc    int
	partner, apiKey   string
	timeout           time.Duration
	dbURL, apiURL     string
	rateLimit         float64
	server            *pgServer
	pool              *pgxpool.Pool // on dbURL
	sim               *sim
	name, title       string
	measureTouchedRow bool
}

// runSync runs `hubsync sync` once as a subprocess and measures it: wall
// time, peak RSS, the run's hub.sync_runs row, history rows, rows written or
// locked, WAL, and the simulator's view of the requests.
func runSync(ctx context.Context, e syncEnv) (result, error) {
	res := result{name: e.name, title: e.title, walDB: -1}
	var since int64
	if e.measureTouchedRow {
		var err error
		if since, err = xidNow(ctx, e.pool); err != nil {
			return res, err
		}
	}
	wal, err := e.server.startWAL(ctx, e.dbURL)
	if err != nil {
		return res, err
	}
	st0 := e.sim.Stats()

	res.logPath = filepath.Join(e.workDir, "sync-"+safeName(e.name)+".log")
	logf, err := os.Create(res.logPath)
	if err != nil {
		_, _, _ = wal.stop(ctx)
		return res, fmt.Errorf("create sync log: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		_, _, _ = wal.stop(ctx)
		return res, fmt.Errorf("find the bench executable: %w", err)
	}
	rssPath := filepath.Join(e.workDir, "rss-"+safeName(e.name))
	rctx, cancel := context.WithTimeout(ctx, e.timeout)
	cmd := exec.CommandContext(rctx, self, spawnArg, rssPath, e.bin, "sync")
	cmd.Env = append(cleanEnv(),
		"DATABASE_URL="+e.dbURL,
		"HUB_API_URL="+e.apiURL,
		"HUB_PARTNER_ID="+e.partner,
		"HUB_API_KEY="+e.apiKey,
		"HUBSYNC_PAGE_SIZE="+strconv.Itoa(e.pageSize),
		"HUBSYNC_CONCURRENCY="+strconv.Itoa(e.conc),
		"HUBSYNC_RATE_LIMIT="+strconv.FormatFloat(e.rateLimit, 'f', -1, 64),
		"HUBSYNC_LOG_FORMAT=json",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	busy0 := readCPUStat()
	start := time.Now()
	runErr := cmd.Run()
	res.wall = time.Since(start)
	cancel()
	logf.Close()
	if b, err := os.ReadFile(rssPath); err == nil {
		var cpuMS int64
		if _, err := fmt.Sscan(string(b), &res.maxRSSKB, &cpuMS); err == nil {
			res.cpu = time.Duration(cpuMS) * time.Millisecond
		}
	}
	res.machineBusy = busy0.busySince()
	if runErr != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			runErr = fmt.Errorf("%w (timed out after %s; raise -sync-timeout)", runErr, e.timeout)
		}
		res.exitErr = fmt.Errorf("hubsync sync: %w (log: %s)", runErr, res.logPath)
	}
	st1 := e.sim.Stats()
	res.simRequests, res.simThrottle = st1.Requests-st0.Requests, st1.Throttled-st0.Throttled

	if res.walCluster, res.walDB, err = wal.stop(ctx); err != nil {
		return res, err
	}
	if res.run, err = lastRun(ctx, e.pool); err != nil {
		return res, err
	}
	if res.history, err = historyRows(ctx, e.pool, res.run.id); err != nil {
		return res, err
	}
	if e.measureTouchedRow {
		if res.touched, err = touchedSince(ctx, e.pool, since); err != nil {
			return res, err
		}
	}
	return res, nil
}

// spawnArg makes the bench binary a small wrapper that runs a command and
// writes the command's peak RSS (KB) to a file. It exists because on Linux a
// child started by the Go runtime (vfork-style, sharing the parent's memory
// until exec) inherits the parent's peak RSS in its ru_maxrss: measured
// directly, every sync would seem to weigh at least as much as the bench
// with its simulator. The wrapper is small, so its child's ru_maxrss is the
// sync's own.
const spawnArg = "__spawn-measure-rss"

func spawnMain(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "bench: usage: bench "+spawnArg+" RSS_FILE COMMAND [ARG...]")
		return 2
	}
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	_ = cmd.Wait()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		// Maxrss is in kilobytes on Linux.
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		out := fmt.Sprintf("%d %d", ru.Maxrss, cpu.Milliseconds())
		if err := os.WriteFile(args[0], []byte(out), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	return cmd.ProcessState.ExitCode()
}

// cleanEnv is the bench's environment without the settings runSync sets,
// so that a developer's own HUB_* or HUBSYNC_* variables do not leak in.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "DATABASE_URL" || strings.HasPrefix(k, "HUB_") || strings.HasPrefix(k, "HUBSYNC_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// buildHubsync compiles ./cmd/hubsync into dir.
func buildHubsync(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "hubsync")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/hubsync")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/hubsync: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot finds the directory holding go.mod, from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the repository")
		}
		dir = parent
	}
}

// cpuStat is a reading of the machine's CPU counters (/proc/stat).
type cpuStat struct{ busy, total int64 }

func readCPUStat() cpuStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{-1, -1}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuStat{-1, -1}
	}
	var st cpuStat
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		st.total += n
		if i != 3 && i != 4 { // idle, iowait
			st.busy += n
		}
	}
	return st
}

// busySince returns the share of CPU time the machine was busy since s.
func (s cpuStat) busySince() float64 {
	now := readCPUStat()
	if s.total < 0 || now.total <= s.total {
		return -1
	}
	return float64(now.busy-s.busy) / float64(now.total-s.total)
}
