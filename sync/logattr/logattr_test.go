package logattr_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/hubsync/hubsync/sync/logattr"
)

func TestContextAttributesReachEveryLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(logattr.NewHandler(slog.NewTextHandler(&buf, nil))).With("component", "x")
	ctx := logattr.With(context.Background(), slog.Int64("run_id", 42))
	log.InfoContext(ctx, "with context")
	log.Info("without context")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "run_id=42") || !strings.Contains(lines[0], "component=x") {
		t.Errorf("line logged with the run's context lacks run_id or component: %s", lines[0])
	}
	if strings.Contains(lines[1], "run_id") {
		t.Errorf("line logged without the context has a run_id: %s", lines[1])
	}
}
