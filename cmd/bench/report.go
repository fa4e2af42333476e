package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// report is everything one bench run measured.
type report struct {
	opts              *options
	machine           string
	started, finished time.Time

	bigClients, bigChannels int
	fetch                   fetchResult
	fetchNearB              fetchResult // the fastest of the passes run next to (b)
	copyDur                 time.Duration
	copyRows                int
	copyWALCluster          int64
	copyWALDB               int64
	copyBusy                float64

	small, a, b, c, d result
	cExpected         int64
}

// Targets of issue 6.
const (
	targetInitialVsFloor = 1.5
	targetResyncVsFetch  = 1.1
	targetResyncWAL      = 5e6
	targetRSSRatio       = 1.5
	targetRateShare      = 0.9
	target429Share       = 0.01
)

func describeMachine(si serverInfo) string {
	cpu := ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = " × " + strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	memGB := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			memGB = fmt.Sprintf(", %.0f GB RAM", float64(kb)/1024/1024)
		}
	}
	return fmt.Sprintf("%d CPUs%s%s, %s/%s, %s; PostgreSQL %s on the same machine (shared_buffers %s, synchronous_commit %s, data_checksums %s, autovacuum %s)",
		runtime.NumCPU(), cpu, memGB, runtime.GOOS, runtime.GOARCH, runtime.Version(),
		si.version, si.sharedBuffers, si.syncCommit, si.checksums, si.av)
}

func (rep *report) largerFloor() (time.Duration, string) {
	if rep.copyDur > rep.fetch.dur {
		return rep.copyDur, "COPY"
	}
	return rep.fetch.dur, "fetch"
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}

// verdicts returns the targets column of each scenario and the summary lines.
func (rep *report) verdicts() (cells map[string]string, lines []string) {
	cells = map[string]string{}
	floor, floorName := rep.largerFloor()
	failed := func(r result) string {
		if r.exitErr != nil || r.run.status != "succeeded" {
			return fmt.Sprintf("✗ run %s · ", r.run.status)
		}
		return ""
	}

	ra := ratio(rep.a.wall, floor)
	rss := 0.0
	if rep.small.maxRSSKB > 0 {
		rss = float64(rep.a.maxRSSKB) / float64(rep.small.maxRSSKB)
	}
	cells["a"] = fmt.Sprintf("%s%s ≤ %.1f× floor (%.2f×) · %s RSS ≤ %.1f× %s-client run (%.2f×)", failed(rep.a),
		mark(ra <= targetInitialVsFloor), targetInitialVsFloor, ra,
		mark(rss > 0 && rss <= targetRSSRatio), targetRSSRatio, thousands(int64(rep.opts.smallClients)), rss)
	cells["a-small"] = failed(rep.small) + "memory baseline"

	b := rep.b
	upd := b.run.clientsUpdated + b.run.channelsUpdated
	walB := pick(b.walDB, b.walCluster)
	nearB := rep.fetchNearB.dur
	rb := ratio(b.wall, nearB)
	cells["b"] = fmt.Sprintf("%s%s 0 rows updated or locked (%d) · %s 0 history (%d) · %s WAL < %s (%s) · %s ≤ %.1f× fetch floor (%.2f×)",
		failed(b), mark(upd == 0 && b.touched == 0), upd+b.touched, mark(b.history == 0), b.history,
		mark(walB < targetResyncWAL), mb(targetResyncWAL), mb(walB), mark(rb <= targetResyncVsFetch), targetResyncVsFetch, rb)

	c := rep.c
	updC := c.run.clientsUpdated + c.run.channelsUpdated
	insC := c.run.clientsInserted + c.run.channelsInserted
	cells["c"] = fmt.Sprintf("%s%s updated = %s (%s) · %s history = %s (%s) · %s 0 inserted (%d)", failed(c),
		mark(updC == rep.cExpected), thousands(rep.cExpected), thousands(updC),
		mark(c.history == rep.cExpected), thousands(rep.cExpected), thousands(c.history), mark(insC == 0), insC)

	d := rep.d
	achieved, share429 := 0.0, 0.0
	if d.wall > 0 {
		achieved = float64(d.run.apiRequests-d.run.apiThrottle) / d.wall.Seconds()
	}
	if d.run.apiRequests > 0 {
		share429 = float64(d.run.apiThrottle) / float64(d.run.apiRequests)
	}
	cells["d"] = fmt.Sprintf("%s%s ≥ %s of %s req/s (%.0f%%) · %s 429 ≤ %s (%.2f%%)", failed(d),
		mark(achieved >= targetRateShare*rep.opts.rps), pct(targetRateShare), trimFloat(rep.opts.rps), 100*achieved/rep.opts.rps,
		mark(share429 <= target429Share), pct(target429Share), 100*share429)

	lines = append(lines,
		fmt.Sprintf("- Floors: fetch only %.1f s (the fastest of %d passes: 2 at the start, %d next to (b); each in its own process like the sync), COPY only %.1f s; the larger is %s.", rep.fetch.dur.Seconds(), 2+bPasses, bPasses, rep.copyDur.Seconds(), floorName),
		fmt.Sprintf("- (a) initial sync / larger floor = %.1f s / %.1f s = **%.2f×** (target ≤ %.1f×) %s; the faster of two runs, each into a new database", rep.a.wall.Seconds(), floor.Seconds(), ra, targetInitialVsFloor, mark(ra <= targetInitialVsFloor)),
		rep.floorBound(floor),
		fmt.Sprintf("- (a) peak RSS %s clients / %s clients = %s / %s = **%.2f×** (target ≤ %.1f×) %s",
			thousands(int64(rep.bigClients)), thousands(int64(rep.opts.smallClients)), mb(rep.a.maxRSSKB*1024), mb(rep.small.maxRSSKB*1024), rss, targetRSSRatio, mark(rss > 0 && rss <= targetRSSRatio)),
		fmt.Sprintf("- (b) re-sync / fetch floor measured next to it = %.1f s / %.1f s = **%.2f×** (target ≤ %.1f×) %s; each the best of %d, run in turn; against the fastest floor of the run (%.1f s): %.2f×",
			b.wall.Seconds(), nearB.Seconds(), rb, targetResyncVsFetch, mark(rb <= targetResyncVsFetch), bPasses, rep.fetch.dur.Seconds(), ratio(b.wall, rep.fetch.dur)),
		fmt.Sprintf("- (b) rows updated %d, rows written or locked (newer xmin/xmax) %d, history rows %d, WAL %s of this database (%s cluster-wide) %s",
			upd, b.touched, b.history, mb(b.walDB), mb(b.walCluster), mark(upd == 0 && b.touched == 0 && b.history == 0 && walB < targetResyncWAL)),
		fmt.Sprintf("- (c) expected vs measured: channels updated %s vs %s, clients updated 0 vs %d, inserted 0 vs %d, history rows %s vs %s, rows written or locked %s vs %s %s",
			thousands(rep.cExpected), thousands(c.run.channelsUpdated), c.run.clientsUpdated, insC,
			thousands(rep.cExpected), thousands(c.history), thousands(rep.cExpected), thousands(c.touched),
			mark(updC == rep.cExpected && c.history == rep.cExpected && insC == 0)),
		fmt.Sprintf("- (d) achieved %.0f successful requests/s of the simulator's %s (%.0f%%, target ≥ %s) %s; %d of %d requests answered 429 (%.2f%%, target ≤ %s; the simulator counted %d of %d) %s",
			achieved, trimFloat(rep.opts.rps), 100*achieved/rep.opts.rps, pct(targetRateShare), mark(achieved >= targetRateShare*rep.opts.rps),
			d.run.apiThrottle, d.run.apiRequests, 100*share429, pct(target429Share), d.simThrottle, d.simRequests, mark(share429 <= target429Share)),
	)
	for _, r := range []result{rep.small, rep.a, rep.b, rep.c, rep.d} {
		if r.exitErr != nil || r.run.status != "succeeded" {
			lines = append(lines, fmt.Sprintf("- %s ended %s: %v %s", r.title, r.run.status, r.exitErr, r.run.errText))
		}
	}
	return cells, lines
}

func (rep *report) markdown() string {
	o := rep.opts
	var b strings.Builder
	fmt.Fprintf(&b, "Command: `go run ./cmd/bench%s` — %s, took %s\n\n", argString(o.args),
		rep.started.UTC().Format("2006-01-02 15:04 MST"), rep.finished.Sub(rep.started).Round(time.Second))
	fmt.Fprintf(&b, "Machine: %s\n\n", rep.machine)
	fmt.Fprintf(&b, "Simulator: %s clients, %s channels (seed %d); sync: page size %d, concurrency %d, HUBSYNC_RATE_LIMIT 100000 (d: %s)\n\n",
		thousands(int64(rep.bigClients)), thousands(int64(rep.bigChannels)), o.seed, o.pageSize, o.concurrency, trimFloat(o.rps))

	cells, lines := rep.verdicts()
	b.WriteString("| run | s | clients/s | channels/s | API req/s | inserted (clients / channels) | updated (clients / channels) | history rows | rows written or locked | WAL (this db) | WAL (cluster) | peak RSS | 429 | sync CPU s · machine busy | targets |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	f := rep.fetch
	fmt.Fprintf(&b, "| floor: fetch + decode, no DB | %.1f | %s | %s | %s | – | – | – | – | – | – | – | %d | %.1f · %s | |\n",
		f.dur.Seconds(), perSec(f.clients, f.dur), perSec(f.channels, f.dur), perSec(f.requests, f.dur), f.throttled, f.cpu.Seconds(), busyPct(f.busy))
	fmt.Fprintf(&b, "| floor: COPY, no HTTP | %.1f | %s | %s | – | %s / %s | – | – | – | %s | %s | – | – | – · %s | |\n",
		rep.copyDur.Seconds(), perSec(int64(rep.bigClients), rep.copyDur), perSec(int64(rep.copyRows-rep.bigClients), rep.copyDur),
		thousands(int64(rep.bigClients)), thousands(int64(rep.copyRows-rep.bigClients)), mb(rep.copyWALDB), mb(rep.copyWALCluster), busyPct(rep.copyBusy))
	for _, x := range []struct {
		key string
		r   result
	}{{"a-small", rep.small}, {"a", rep.a}, {"b", rep.b}, {"c", rep.c}, {"d", rep.d}} {
		r := x.r
		touched := "–"
		if x.key == "b" || x.key == "c" {
			touched = thousands(r.touched)
		}
		fmt.Fprintf(&b, "| %s | %.1f | %s | %s | %s | %s / %s | %s / %s | %s | %s | %s | %s | %s | %d | %.1f · %s | %s |\n",
			r.title, r.wall.Seconds(), perSec(r.run.clientsSeen, r.wall), perSec(r.run.channelsSeen, r.wall), perSec(r.run.apiRequests, r.wall),
			thousands(r.run.clientsInserted), thousands(r.run.channelsInserted), thousands(r.run.clientsUpdated), thousands(r.run.channelsUpdated),
			thousands(r.history), touched, mb(r.walDB), mb(r.walCluster), mb(r.maxRSSKB*1024), r.run.apiThrottle,
			r.cpu.Seconds(), busyPct(r.machineBusy), cells[x.key])
	}
	b.WriteString("\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("\nColumns: s is the wall time of `hubsync sync` (process start to exit); rates divide the run's hub.sync_runs counts by it. " +
		"Rows written or locked counts client and channel row versions whose xmin or xmax is a transaction newer than the run's start. " +
		"WAL (this db) sums the WAL records that touch the scratch database (pg_walinspect; commit records excluded); WAL (cluster) is the " +
		"pg_current_wal_lsn() difference, which includes whatever else the server was doing. MB are 10^6 bytes. Peak RSS is the sync process's maxrss. Sync CPU s is its user + system time (for the fetch floor, the floor process's); machine busy is the share of all CPUs busy during the run (simulator, Postgres and everything else on the machine included).\n")
	return b.String()
}

const (
	docBegin = "<!-- bench:begin (generated by go run ./cmd/bench; edit outside these markers) -->"
	docEnd   = "<!-- bench:end -->"
)

// writeDoc puts the report between the markers of path, keeping the text
// around them, or creates the file.
func writeDoc(path string, rep *report) error {
	block := docBegin + "\n" + rep.markdown() + docEnd + "\n"
	old, err := os.ReadFile(path)
	var out []byte
	switch {
	case err == nil && bytes.Contains(old, []byte(docBegin)) && bytes.Contains(old, []byte(docEnd)):
		i := bytes.Index(old, []byte(docBegin))
		j := bytes.Index(old, []byte(docEnd)) + len(docEnd)
		if j < len(old) && old[j] == '\n' {
			j++
		}
		out = append(append(append([]byte{}, old[:i]...), block...), old[j:]...)
	case err == nil || os.IsNotExist(err):
		out = []byte("# Performance\n\nMeasured by `make bench` (`go run ./cmd/bench`); see the package comment of cmd/bench for the method.\n\n" + block)
	default:
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func argString(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return " " + strings.Join(args, " ")
}

func perSec(n int64, d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return thousands(int64(float64(n)/d.Seconds() + 0.5))
}

// mb formats bytes as MB (10^6); negative means unknown.
func mb(b int64) string {
	switch {
	case b < 0:
		return "n/a"
	case b < 10e6:
		return fmt.Sprintf("%.2f MB", float64(b)/1e6)
	}
	return fmt.Sprintf("%s MB", thousands(int64(float64(b)/1e6+0.5)))
}

func pct(f float64) string { return trimFloat(f*100) + "%" }

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// floorBound says what the floors alone cost the machine: every process of
// a run shares its CPUs, so a sync that did no more than both floors, with
// perfect overlap, could not take less than their CPU time spread over all
// CPUs. On two CPUs that bound is close to the (a) target.
func (rep *report) floorBound(floor time.Duration) string {
	n := float64(runtime.NumCPU())
	fetch := rep.fetch.busy * n * rep.fetch.dur.Seconds()
	cp := rep.copyBusy * n * rep.copyDur.Seconds()
	bound := (fetch + cp) / n
	return fmt.Sprintf("- The floors' own cost: the fetch floor kept %s of the %.0f CPUs busy (%.1f CPU-s), the COPY floor %s (%.1f CPU-s). "+
		"A sync doing no more than both, perfectly overlapped, needs at least %.1f s here, %.2f× the larger floor; during (a) the machine was busy for %.1f CPU-s.",
		busyPct(rep.fetch.busy), n, fetch, busyPct(rep.copyBusy), cp, bound, bound/floor.Seconds(),
		rep.a.machineBusy*n*rep.a.wall.Seconds())
}

func busyPct(f float64) string {
	if f < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}
