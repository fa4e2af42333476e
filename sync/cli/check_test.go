package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hubsync/hubsync/sync/fakehub"
)

// TestCheckCommand drives `hubsync check` through cli.Run: its exit
// statuses, its JSON document, and that it writes nothing.
func TestCheckCommand(t *testing.T) {
	t.Parallel()
	h := setup(t, fakehub.Config{Clients: 20, APIKey: "key-S3CRET-cli"})
	ctx := context.Background()

	code, out, errs := h.run(ctx, "check", "--json", "--pages", "2", "--sample", "5")
	if code != 0 {
		t.Fatalf("hubsync check --json exited %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	var doc struct {
		Version  int    `json:"version"`
		Verdict  string `json:"verdict"`
		ExitCode int    `json:"exit_code"`
		Listing  struct {
			PagesRead int `json:"pages_read"`
		} `json:"listing"`
		SharedNumbers struct {
			ClientsSampled int `json:"clients_sampled"`
		} `json:"shared_numbers"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, out)
	}
	if doc.Version != 1 || doc.Verdict != "ok" || doc.ExitCode != 0 || doc.Listing.PagesRead != 2 || doc.SharedNumbers.ClientsSampled != 5 {
		t.Errorf("document = %+v, want version 1, verdict ok, exit 0, 2 pages read, 5 clients sampled", doc)
	}
	if strings.Contains(out+errs, "key-S3CRET-cli") {
		t.Error("the output holds the API key")
	}
	if n := h.count(`SELECT (SELECT count(*) FROM hub.sync_runs) + (SELECT count(*) FROM hub.clients)`); n != 0 {
		t.Errorf("the check wrote %d rows to hub.sync_runs and hub.clients, want 0", n)
	}
	if n := h.hub.Stats().ByEndpoint[fakehub.EndpointUpdateClient].Requests; n != 0 {
		t.Errorf("the check sent %d PATCH requests, want 0", n)
	}

	code, out, _ = h.run(ctx, "check")
	if code != 0 || !strings.Contains(out, "✓ a sync would work") {
		t.Errorf("hubsync check exited %d, want 0 with the verdict line; stdout:\n%s", code, out)
	}

	h.env["HUB_API_KEY"] = "key-S3CRET-cli-wrong"
	code, out, _ = h.run(ctx, "check")
	if code != 1 || !strings.Contains(out, "✗ API") || strings.Contains(out, "key-S3CRET-cli-wrong") {
		t.Errorf("with a wrong key: exit %d, want 1 with \"✗ API\" and no key; stdout:\n%s", code, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad concurrency", []string{"check"}, map[string]string{"HUBSYNC_CONCURRENCY": "-1"}, "HUBSYNC_CONCURRENCY"},
		{"bad schedule", []string{"check"}, map[string]string{"HUBSYNC_SCHEDULE": "every hour"}, "HUBSYNC_SCHEDULE"},
		{"no partner", []string{"check"}, map[string]string{"HUB_PARTNER_ID": ""}, "HUB_PARTNER_ID"},
		{"bad pages", []string{"check", "--pages", "0"}, nil, "--pages"},
		{"argument", []string{"check", "extra"}, nil, "unexpected argument"},
	} {
		hh := *h
		hh.env = map[string]string{}
		for k, v := range h.env {
			hh.env[k] = v
		}
		for k, v := range tc.env {
			hh.env[k] = v
		}
		code, _, errs := hh.run(ctx, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming %s", tc.name, code, errs, tc.want)
		}
	}

	code, _, errs = h.run(ctx, "check", "--help")
	if code != 0 || !strings.Contains(errs, "hubsync check [--pages N] [--sample N] [--json]") || !strings.Contains(errs, "-sample") {
		t.Errorf("check --help: exit %d, want 0 with the synopsis and flags; stderr:\n%s", code, errs)
	}
}
