package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseOptionsScenarios(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	for _, tc := range []struct {
		args   []string
		groups []string
		out    string
		latN   int
	}{
		{nil, allGroups, "docs/performance.md", 10_000},
		{[]string{"-quick"}, allGroups, "-", 1_000},
		{[]string{"-scenarios", "latency, slow-list"}, []string{groupLatency, groupSlowList}, "-", 10_000},
		{[]string{"-scenarios", "loopback", "-out", "x.md"}, []string{groupLoopback}, "x.md", 10_000},
		{[]string{"-quick", "-latency-clients", "500"}, allGroups, "-", 500},
	} {
		o, err := parseOptions(tc.args, getenv, io.Discard)
		if err != nil {
			t.Errorf("parseOptions(%q): %v", tc.args, err)
			continue
		}
		for _, g := range allGroups {
			if want := strings.Contains(strings.Join(tc.groups, ","), g); o.scenarios[g] != want {
				t.Errorf("parseOptions(%q): group %s runs = %v, want %v", tc.args, g, o.scenarios[g], want)
			}
		}
		if o.out != tc.out || o.latencyClients != tc.latN {
			t.Errorf("parseOptions(%q): out %q, latency clients %d; want %q, %d", tc.args, o.out, o.latencyClients, tc.out, tc.latN)
		}
	}
	for _, args := range [][]string{
		{"-scenarios", "latency,fast"},
		{"-scenarios", ""},
		{"-list-latency", "-1s"},
		{"-latency-clients", "10"},
	} {
		if _, err := parseOptions(args, getenv, io.Discard); err == nil {
			t.Errorf("parseOptions(%q) succeeded, want an error", args)
		}
	}
}

// TestMarkdownOnlyRunGroups checks that the table holds the rows of the
// groups that ran, with their verdicts, and none of the others.
func TestMarkdownOnlyRunGroups(t *testing.T) {
	t.Parallel()
	o, err := parseOptions([]string{"-scenarios", "latency,slow-list"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ok := runRow{status: "succeeded", clientsSeen: 100, channelsSeen: 250, apiRequests: 101}
	rep := &report{opts: o, latClients: 100, latChannels: 250,
		latFloor:  fetchResult{dur: 10 * time.Second},
		slowFloor: fetchResult{dur: 10 * time.Second},
		e:         result{name: "e", title: "(e) initial", wall: 10200 * time.Millisecond, run: ok, maxRSSKB: 30_000},
		f:         result{name: "f", title: "(f) re-sync", wall: 11 * time.Second, run: ok, maxRSSKB: 25_000, walDB: 40_000},
		g:         result{name: "g", title: "(g) re-sync", wall: 10500 * time.Millisecond, run: ok, maxRSSKB: 25_000, walDB: 40_000, touched: 3},
	}
	md := rep.markdown()
	for _, want := range []string{
		"| (e) initial |", "✓ ≤ 1.05× fetch floor (1.02×)",
		"| (f) re-sync |", "✗ ≤ 1.05× fetch floor (1.10×)",
		"| (g) re-sync |", "✗ 0 rows updated or locked (3)", "✓ ≤ 1.1× fetch floor (1.05×)",
		"floor: fetch + decode, 20ms latency", "floor: fetch + decode, list 200ms, shared numbers 20ms",
		"Peak RSS of every sync run < 100 MB: the largest 31 MB, in (e) initial ✓",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	for _, unwanted := range []string{"floor: COPY", "(a)", "(b)", "(d)"} {
		if strings.Contains(md, unwanted) {
			t.Errorf("report of groups latency and slow-list holds %q:\n%s", unwanted, md)
		}
	}
}
