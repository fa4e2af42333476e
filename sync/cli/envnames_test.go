package cli_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hubsync/hubsync/sync/cli"
)

func TestEnvNames(t *testing.T) {
	t.Parallel()
	names := cli.EnvNames()
	if !slices.IsSorted(names) {
		t.Errorf("EnvNames is not sorted: %q", names)
	}
	if c := slices.Compact(slices.Clone(names)); len(c) != len(names) {
		t.Errorf("EnvNames has duplicates: %q", names)
	}
	// The contract's table, and the _FILE variants of exactly the secrets.
	for _, want := range []string{"DATABASE_URL", "HUB_API_URL", "HUB_PARTNER_ID", "HUB_API_KEY", "HUB_TOKEN",
		"HUBSYNC_SCHEDULE", "HUBSYNC_PAGE_SIZE", "HUBSYNC_CONCURRENCY", "HUBSYNC_RATE_LIMIT", "HUBSYNC_HTTP_ADDR",
		"HUBSYNC_LOG_FORMAT", "HUBSYNC_ALLOW_MASS_REMOVAL", "HUBSYNC_SHUTDOWN_GRACE", "HUBSYNC_RUN_AT_START",
		"HUB_API_KEY_FILE", "HUB_TOKEN_FILE", "DATABASE_URL_FILE"} {
		if !slices.Contains(names, want) {
			t.Errorf("EnvNames lacks %s; got %q", want, names)
		}
	}
	for _, notSecret := range []string{"HUB_PARTNER_ID_FILE", "HUB_API_URL_FILE", "HUBSYNC_SCHEDULE_FILE"} {
		if slices.Contains(names, notSecret) {
			t.Errorf("EnvNames has %s, but only secrets have a _FILE variant", notSecret)
		}
	}

	// Every plain name is one that some command documents in its --help,
	// i.e. one the binary really reads.
	var help strings.Builder
	for _, cmd := range []string{"serve", "sync", "migrate", "docs"} {
		var stderr bytes.Buffer
		code := cli.Run(context.Background(), []string{cmd, "--help"}, cli.Env{
			Getenv: func(string) string { return "" }, Stderr: &stderr, Terminal: func() bool { return false },
		})
		if code != cli.ExitOK {
			t.Fatalf("hubsync %s --help exited %d:\n%s", cmd, code, stderr.String())
		}
		help.WriteString(stderr.String())
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_FILE") {
			continue
		}
		if !strings.Contains(help.String(), "env "+name) {
			t.Errorf("EnvNames has %s, but no command's --help mentions \"env %s\"", name, name)
		}
	}
}
