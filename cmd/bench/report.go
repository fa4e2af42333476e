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

// report is everything one bench run measured. A group of scenarios that
// did not run leaves its fields zero and its rows out of the table.
type report struct {
	opts              *options
	machine           string
	started, finished time.Time

	// Group loopback.
	bigClients, bigChannels int
	fetch                   fetchResult
	fetchNearB              fetchResult // the fastest of the passes run next to (b)
	copyDur                 time.Duration
	copyRows                int
	copyWALCluster          int64
	copyWALDB               int64
	copyBusy                float64
	small, a, b, c          result
	cExpected               int64

	// Group throttled.
	d result

	// Groups latency and slow-list.
	latClients, latChannels int
	latFloor                fetchResult // against -latency on every request
	slowFloor               fetchResult // against -list-latency and -shared-latency
	e, f, g                 result
}

// Targets: the guard rails of issue 15, and issue 6's for the rate-limited
// run (d).
const (
	targetInitialVsFloor = 2.3   // (a) against the larger floor
	targetResyncVsFetch  = 1.1   // (b) and (g) against their fetch floors
	targetLatencyVsFetch = 1.05  // (e) and (f) against theirs
	targetResyncWAL      = 5e6   // bytes, (b), (f) and (g)
	targetRSS            = 100e6 // bytes, every sync run
	targetRateShare      = 0.9
	target429Share       = 0.01
)

// results returns the sync runs measured, in table order.
func (rep *report) results() []result {
	var out []result
	for _, r := range []result{rep.small, rep.a, rep.b, rep.c, rep.d, rep.e, rep.f, rep.g} {
		if r.name != "" {
			out = append(out, r)
		}
	}
	return out
}

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

// failed prefixes a verdict on a run that did not succeed.
func failed(r result) string {
	if r.exitErr != nil || r.run.status != "succeeded" {
		return fmt.Sprintf("✗ run %s · ", r.run.status)
	}
	return ""
}

// quiet is the verdict on a re-sync that must write and lock nothing.
func quiet(r result) (cell string, ok bool) {
	upd := r.run.clientsUpdated + r.run.channelsUpdated
	wal := pick(r.walDB, r.walCluster)
	rowsOK, walOK := upd == 0 && r.touched == 0, wal >= 0 && wal < targetResyncWAL
	cell = fmt.Sprintf("%s 0 rows updated or locked (%d) · %s 0 history (%d) · %s WAL < %s (%s)",
		mark(rowsOK), upd+r.touched, mark(r.history == 0), r.history, mark(walOK), mb(targetResyncWAL), mb(wal))
	return cell, rowsOK && r.history == 0 && walOK
}

// vsFloor is the verdict on a run's wall time against a floor.
func vsFloor(r result, floor time.Duration, target float64, floorName string) (cell string, x float64) {
	x = ratio(r.wall, floor)
	return fmt.Sprintf("%s ≤ %s× %s (%.2f×)", mark(x > 0 && x <= target), trimFloat(target), floorName, x), x
}

// verdicts returns the targets column of each run and the summary lines.
func (rep *report) verdicts() (cells map[string]string, lines []string) {
	cells = map[string]string{}
	if rep.a.name != "" {
		lines = append(lines, rep.loopbackVerdicts(cells)...)
	}
	if rep.d.name != "" {
		lines = append(lines, rep.throttledVerdicts(cells)...)
	}
	if rep.e.name != "" {
		c, x := vsFloor(rep.e, rep.latFloor.dur, targetLatencyVsFetch, "fetch floor")
		cells["e"] = failed(rep.e) + c
		lines = append(lines, fmt.Sprintf("- (e) initial sync / fetch floor at %s latency = %.1f s / %.1f s = **%.2f×** (target ≤ %s×) %s",
			rep.opts.latency, rep.e.wall.Seconds(), rep.latFloor.dur.Seconds(), x, trimFloat(targetLatencyVsFetch), mark(x > 0 && x <= targetLatencyVsFetch)))
	}
	if rep.f.name != "" {
		c, x := vsFloor(rep.f, rep.latFloor.dur, targetLatencyVsFetch, "fetch floor")
		q, ok := quiet(rep.f)
		cells["f"] = failed(rep.f) + q + " · " + c
		lines = append(lines, fmt.Sprintf("- (f) re-sync / the same floor = %.1f s / %.1f s = **%.2f×** (target ≤ %s×) %s; %s",
			rep.f.wall.Seconds(), rep.latFloor.dur.Seconds(), x, trimFloat(targetLatencyVsFetch), mark(x > 0 && x <= targetLatencyVsFetch), quietLine(rep.f, ok)))
	}
	if rep.g.name != "" {
		c, x := vsFloor(rep.g, rep.slowFloor.dur, targetResyncVsFetch, "fetch floor")
		q, ok := quiet(rep.g)
		cells["g"] = failed(rep.g) + q + " · " + c
		lines = append(lines, fmt.Sprintf("- (g) re-sync / fetch floor with list answers in %s and shared-number answers in %s = %.1f s / %.1f s = **%.2f×** (target ≤ %s×) %s; %s",
			rep.opts.listLatency, rep.opts.sharedLatency, rep.g.wall.Seconds(), rep.slowFloor.dur.Seconds(), x, trimFloat(targetResyncVsFetch),
			mark(x > 0 && x <= targetResyncVsFetch), quietLine(rep.g, ok)))
	}
	var peak result
	for _, r := range rep.results() {
		if r.maxRSSKB > peak.maxRSSKB {
			peak = r
		}
	}
	if peak.name != "" {
		lines = append(lines, fmt.Sprintf("- Peak RSS of every sync run < %s: the largest %s, in %s %s",
			mb(targetRSS), mb(peak.maxRSSKB*1024), peak.title, mark(peak.maxRSSKB*1024 < targetRSS)))
	}
	for _, r := range rep.results() {
		if r.exitErr != nil || r.run.status != "succeeded" {
			lines = append(lines, fmt.Sprintf("- %s ended %s: %v %s", r.title, r.run.status, r.exitErr, r.run.errText))
		}
	}
	return cells, lines
}

// quietLine spells out what a re-sync that must write nothing wrote.
func quietLine(r result, ok bool) string {
	return fmt.Sprintf("rows updated %d, rows written or locked (newer xmin/xmax) %d, history rows %d, WAL %s of this database (%s cluster-wide) %s",
		r.run.clientsUpdated+r.run.channelsUpdated, r.touched, r.history, mb(r.walDB), mb(r.walCluster), mark(ok))
}

// loopbackVerdicts fills the cells of the floors, (a), (b) and (c), and
// returns their summary lines.
func (rep *report) loopbackVerdicts(cells map[string]string) []string {
	floor, floorName := rep.largerFloor()
	ra := ratio(rep.a.wall, floor)
	rss := 0.0
	if rep.small.maxRSSKB > 0 {
		rss = float64(rep.a.maxRSSKB) / float64(rep.small.maxRSSKB)
	}
	rssOK := rep.a.maxRSSKB > 0 && rep.a.maxRSSKB*1024 < targetRSS
	cells["a"] = fmt.Sprintf("%s%s ≤ %s× larger floor (%.2f×) · %s peak RSS < %s (%s; %.2f× the %s-client run)", failed(rep.a),
		mark(ra > 0 && ra <= targetInitialVsFloor), trimFloat(targetInitialVsFloor), ra,
		mark(rssOK), mb(targetRSS), mb(rep.a.maxRSSKB*1024), rss, thousands(int64(rep.opts.smallClients)))
	cells["a-small"] = failed(rep.small) + "memory baseline"

	b := rep.b
	nearB := rep.fetchNearB.dur
	q, quietOK := quiet(b)
	cb, rb := vsFloor(b, nearB, targetResyncVsFetch, "fetch floor")
	cells["b"] = failed(b) + q + " · " + cb

	c := rep.c
	updC := c.run.clientsUpdated + c.run.channelsUpdated
	insC := c.run.clientsInserted + c.run.channelsInserted
	cells["c"] = fmt.Sprintf("%s%s updated = %s (%s) · %s history = %s (%s) · %s 0 inserted (%d)", failed(c),
		mark(updC == rep.cExpected), thousands(rep.cExpected), thousands(updC),
		mark(c.history == rep.cExpected), thousands(rep.cExpected), thousands(c.history), mark(insC == 0), insC)

	return []string{
		fmt.Sprintf("- Floors: fetch only %.1f s (the fastest of %d passes: 2 at the start, %d next to (b); each in its own process like the sync), COPY only %.1f s; the larger is %s.", rep.fetch.dur.Seconds(), 2+bPasses, bPasses, rep.copyDur.Seconds(), floorName),
		fmt.Sprintf("- (a) initial sync / larger floor = %.1f s / %.1f s = **%.2f×** (target ≤ %s×) %s; the faster of two runs, each into a new database", rep.a.wall.Seconds(), floor.Seconds(), ra, trimFloat(targetInitialVsFloor), mark(ra > 0 && ra <= targetInitialVsFloor)),
		rep.floorBound(floor),
		fmt.Sprintf("- (a) peak RSS %s (target < %s) %s; %s clients / %s clients = %s / %s = %.2f×",
			mb(rep.a.maxRSSKB*1024), mb(targetRSS), mark(rssOK), thousands(int64(rep.bigClients)), thousands(int64(rep.opts.smallClients)),
			mb(rep.a.maxRSSKB*1024), mb(rep.small.maxRSSKB*1024), rss),
		fmt.Sprintf("- (b) re-sync / fetch floor measured next to it = %.1f s / %.1f s = **%.2f×** (target ≤ %s×) %s; each the best of %d, run in turn; against the fastest floor of the run (%.1f s): %.2f×",
			b.wall.Seconds(), nearB.Seconds(), rb, trimFloat(targetResyncVsFetch), mark(rb > 0 && rb <= targetResyncVsFetch), bPasses, rep.fetch.dur.Seconds(), ratio(b.wall, rep.fetch.dur)),
		"- (b) " + quietLine(b, quietOK),
		fmt.Sprintf("- (c) expected vs measured: channels updated %s vs %s, clients updated 0 vs %d, inserted 0 vs %d, history rows %s vs %s, rows written or locked %s vs %s %s",
			thousands(rep.cExpected), thousands(c.run.channelsUpdated), c.run.clientsUpdated, insC,
			thousands(rep.cExpected), thousands(c.history), thousands(rep.cExpected), thousands(c.touched),
			mark(updC == rep.cExpected && c.history == rep.cExpected && insC == 0)),
	}
}

// throttledVerdicts fills the cell of (d) and returns its summary line.
func (rep *report) throttledVerdicts(cells map[string]string) []string {
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
	return []string{fmt.Sprintf("- (d) achieved %.0f successful requests/s of the simulator's %s (%.0f%%, target ≥ %s) %s; %d of %d requests answered 429 (%.2f%%, target ≤ %s; the simulator counted %d of %d) %s",
		achieved, trimFloat(rep.opts.rps), 100*achieved/rep.opts.rps, pct(targetRateShare), mark(achieved >= targetRateShare*rep.opts.rps),
		d.run.apiThrottle, d.run.apiRequests, 100*share429, pct(target429Share), d.simThrottle, d.simRequests, mark(share429 <= target429Share))}
}

func (rep *report) markdown() string {
	o := rep.opts
	var b strings.Builder
	fmt.Fprintf(&b, "Command: `go run ./cmd/bench%s` — %s, took %s\n\n", argString(o.args),
		rep.started.UTC().Format("2006-01-02 15:04 MST"), rep.finished.Sub(rep.started).Round(time.Second))
	fmt.Fprintf(&b, "Machine: %s\n\n", rep.machine)
	fmt.Fprintf(&b, "Sync and floors: page size %d, concurrency %d, rate limit %d requests/s (d: %s); simulator seed %d.", o.pageSize, o.concurrency, rateLimit, trimFloat(o.rps), o.seed)
	if rep.a.name != "" {
		fmt.Fprintf(&b, " Loopback (a, b, c): %s clients, %s channels.", thousands(int64(rep.bigClients)), thousands(int64(rep.bigChannels)))
	}
	if rep.e.name != "" || rep.g.name != "" {
		fmt.Fprintf(&b, " Latency (e, f, g): %s clients, %s channels.", thousands(int64(rep.latClients)), thousands(int64(rep.latChannels)))
	}
	b.WriteString("\n\n")

	cells, lines := rep.verdicts()
	b.WriteString("| run | s | clients/s | channels/s | API req/s | inserted (clients / channels) | updated (clients / channels) | history rows | rows written or locked | WAL (this db) | WAL (cluster) | peak RSS | 429 | sync CPU s · machine busy | targets |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	fetchRow := func(title string, f fetchResult) {
		fmt.Fprintf(&b, "| %s | %.1f | %s | %s | %s | – | – | – | – | – | – | – | %d | %.1f · %s | |\n",
			title, f.dur.Seconds(), perSec(f.clients, f.dur), perSec(f.channels, f.dur), perSec(f.requests, f.dur), f.throttled, f.cpu.Seconds(), busyPct(f.busy))
	}
	syncRow := func(key string, r result) {
		touched := "–"
		if r.name != "a" && r.name != "a-small" && r.name != "d" && r.name != "e" {
			touched = thousands(r.touched)
		}
		fmt.Fprintf(&b, "| %s | %.1f | %s | %s | %s | %s / %s | %s / %s | %s | %s | %s | %s | %s | %d | %.1f · %s | %s |\n",
			r.title, r.wall.Seconds(), perSec(r.run.clientsSeen, r.wall), perSec(r.run.channelsSeen, r.wall), perSec(r.run.apiRequests, r.wall),
			thousands(r.run.clientsInserted), thousands(r.run.channelsInserted), thousands(r.run.clientsUpdated), thousands(r.run.channelsUpdated),
			thousands(r.history), touched, mb(r.walDB), mb(r.walCluster), mb(r.maxRSSKB*1024), r.run.apiThrottle,
			r.cpu.Seconds(), busyPct(r.machineBusy), cells[key])
	}
	if rep.a.name != "" {
		fetchRow("floor: fetch + decode, no DB", rep.fetch)
		fmt.Fprintf(&b, "| floor: COPY, no HTTP | %.1f | %s | %s | – | %s / %s | – | – | – | %s | %s | – | – | – · %s | |\n",
			rep.copyDur.Seconds(), perSec(int64(rep.bigClients), rep.copyDur), perSec(int64(rep.copyRows-rep.bigClients), rep.copyDur),
			thousands(int64(rep.bigClients)), thousands(int64(rep.copyRows-rep.bigClients)), mb(rep.copyWALDB), mb(rep.copyWALCluster), busyPct(rep.copyBusy))
		syncRow("a-small", rep.small)
		syncRow("a", rep.a)
		syncRow("b", rep.b)
		syncRow("c", rep.c)
	}
	if rep.d.name != "" {
		syncRow("d", rep.d)
	}
	if rep.e.name != "" {
		fetchRow(fmt.Sprintf("floor: fetch + decode, %s latency", o.latency), rep.latFloor)
		syncRow("e", rep.e)
		syncRow("f", rep.f)
	}
	if rep.g.name != "" {
		fetchRow(fmt.Sprintf("floor: fetch + decode, list %s, shared numbers %s", o.listLatency, o.sharedLatency), rep.slowFloor)
		syncRow("g", rep.g)
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
