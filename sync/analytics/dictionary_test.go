package analytics_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hubsync/hubsync/sync/analytics"
	"github.com/hubsync/hubsync/sync/dbtest"
)

var update = flag.Bool("update", false, "rewrite docs/data-dictionary.md from a freshly migrated database")

const dictionaryPath = "../../docs/data-dictionary.md"

// TestDataDictionary keeps docs/data-dictionary.md in step with the
// migrations. Regenerate with make docs, or with
// go test ./sync/analytics -run TestDataDictionary -update.
func TestDataDictionary(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	var got bytes.Buffer
	if err := analytics.WriteDictionary(context.Background(), pool, &got); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(dictionaryPath, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(dictionaryPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("docs/data-dictionary.md is stale: run make docs\n(first difference: %s)", firstDiff(string(want), got.String()))
	}
}

// firstDiff shows the first line where the file and the database disagree.
func firstDiff(file, db string) string {
	a, b := strings.Split(file, "\n"), strings.Split(db, "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ": expected (from the database) " + quote(y) + ", file has " + quote(x)
		}
	}
	return "none"
}

func quote(s string) string {
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return "\"" + s + "\""
}

// TestDictionaryDescribesEverything checks the generator against the
// catalog: every table and view of hub has a section, goose's table none, and
// each of the analyst views lists its columns with their comments.
func TestDictionaryDescribesEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	var buf bytes.Buffer
	if err := analytics.WriteDictionary(ctx, pool, &buf); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	rows, err := pool.Query(ctx, `
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'hub' AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(doc, "\n## hub."+n+"\n") {
			t.Errorf("dictionary has no section for hub.%s", n)
		}
	}
	for _, v := range []string{"current_channels", "channel_status_intervals", "daily_channel_status", "client_overview"} {
		if !strings.Contains(doc, "\n## hub."+v+"\n\nView. ") {
			t.Errorf("dictionary has no view section for hub.%s", v)
		}
	}
	for _, line := range []string{
		"| `status_since` | timestamp with time zone | view | When a sync observed the channel entering its current status",
		"| `changed_at` | timestamp with time zone | no | When the change was observed.",
	} {
		if !strings.Contains(doc, line) {
			t.Errorf("dictionary lacks the line starting %q", line)
		}
	}
	if strings.Contains(doc, "goose") {
		t.Errorf("dictionary mentions goose's table")
	}
}
