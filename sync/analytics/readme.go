package analytics

import (
	"errors"
	"fmt"
	"strings"
)

// The README region that holds the example queries.
const (
	QueriesStart = "<!-- queries:start -->"
	QueriesEnd   = "<!-- queries:end -->"
)

// ExampleQuery is one of the README's example queries: a "### question"
// heading followed by one ```sql block.
type ExampleQuery struct {
	Title string // the heading, without "### "
	SQL   string // the block's text, without the fences
}

// ExampleQueries returns the example queries between QueriesStart and
// QueriesEnd in readme, in order. It fails when the markers are missing, when
// a heading has no sql block or two, or when two headings are the same, so
// that tests notice a README that drifted from the shape they rely on.
func ExampleQueries(readme string) ([]ExampleQuery, error) {
	start := strings.Index(readme, QueriesStart)
	end := strings.Index(readme, QueriesEnd)
	if start < 0 || end < 0 || end < start {
		return nil, errors.New("readme: markers " + QueriesStart + " and " + QueriesEnd + " not found in order")
	}
	region := readme[start+len(QueriesStart) : end]

	var (
		out     []ExampleQuery
		cur     *ExampleQuery
		inBlock bool
		block   []string
		seen    = map[string]bool{}
	)
	for i, line := range strings.Split(region, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case inBlock && trimmed == "```":
			inBlock = false
			if cur == nil {
				continue // a sql block outside any query heading (in the intro)
			}
			if cur.SQL != "" {
				return nil, fmt.Errorf("readme: query %q has more than one sql block", cur.Title)
			}
			cur.SQL = strings.TrimSpace(strings.Join(block, "\n"))
		case inBlock:
			block = append(block, line)
		case strings.HasPrefix(trimmed, "```"):
			inBlock, block = true, nil
			if cur != nil && trimmed != "```sql" {
				return nil, fmt.Errorf("readme: query %q: block is %q, want ```sql", cur.Title, trimmed)
			}
		case strings.HasPrefix(trimmed, "### "):
			title := strings.TrimSpace(strings.TrimPrefix(trimmed, "### "))
			if seen[title] {
				return nil, fmt.Errorf("readme: query heading %q appears twice", title)
			}
			seen[title] = true
			out = append(out, ExampleQuery{Title: title})
			cur = &out[len(out)-1]
		case strings.HasPrefix(trimmed, "#"):
			if cur != nil {
				return nil, fmt.Errorf("readme: line %d: heading %q inside the queries region; use ### for queries", i+1, trimmed)
			}
		}
	}
	if inBlock {
		return nil, errors.New("readme: unterminated code block in the queries region")
	}
	for _, q := range out {
		if q.SQL == "" {
			return nil, fmt.Errorf("readme: query %q has no sql block", q.Title)
		}
	}
	return out, nil
}
