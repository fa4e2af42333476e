// Package analytics serves the people who read hubsync's tables with SQL: it
// generates the data dictionary (docs/data-dictionary.md) from the database
// catalog and its comments, and it extracts the example queries from the
// README so that tests and the query benchmark run exactly what analysts copy.
package analytics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Schema is the schema that hubsync writes and the dictionary describes.
const Schema = "hub"

// Querier runs a query: a *pgxpool.Pool, *pgx.Conn or pgx.Tx will do.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type relation struct {
	name    string
	kind    string
	comment string
	columns []column
}

type column struct {
	name     string
	typ      string
	nullable string
	comment  string
}

// WriteDictionary writes the data dictionary of schema hub to w as Markdown:
// the schema's comment, then every table and view (tables first, each group
// by name) with its comment and a table of its columns (name, type, nullable,
// comment) in their declared order. It reads only the catalog, so its output
// depends on the migrations alone and is stable from one database to the
// next. goose's version table is left out.
func WriteDictionary(ctx context.Context, q Querier, w io.Writer) error {
	var schemaComment string
	rows, err := q.Query(ctx, `
		SELECT coalesce(obj_description(n.oid, 'pg_namespace'), '')
		FROM pg_namespace n WHERE n.nspname = $1`, Schema)
	if err != nil {
		return fmt.Errorf("read schema comment: %w", err)
	}
	schemaComment, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("read schema comment: %w", err)
	}

	rels, err := readRelations(ctx, q)
	if err != nil {
		return err
	}

	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# Data dictionary\n\n")
	fmt.Fprintf(bw, "<!-- Generated from the database catalog by analytics.WriteDictionary; do not edit.\n")
	fmt.Fprintf(bw, "     Regenerate with `make docs` (or: go test ./sync/analytics -run TestDataDictionary -update). -->\n\n")
	fmt.Fprintf(bw, "Schema `%s`: %s\n\n", Schema, oneLine(schemaComment))
	fmt.Fprintf(bw, "Every object and column below carries the same text as a `COMMENT ON`, so BI tools show it too. ")
	fmt.Fprintf(bw, "Views do not declare whether a column can be NULL: their nullable column says \"view\"; the comment tells.\n\n")
	for _, r := range rels {
		fmt.Fprintf(bw, "- [%s.%s](#%s%s) (%s)\n", Schema, r.name, Schema, r.name, r.kind)
	}
	for _, r := range rels {
		fmt.Fprintf(bw, "\n## %s.%s\n\n", Schema, r.name)
		fmt.Fprintf(bw, "%s. %s\n\n", capitalize(r.kind), cell(r.comment))
		fmt.Fprintf(bw, "| column | type | nullable | comment |\n|---|---|---|---|\n")
		for _, c := range r.columns {
			fmt.Fprintf(bw, "| `%s` | %s | %s | %s |\n", c.name, cell(c.typ), c.nullable, cell(c.comment))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write dictionary: %w", err)
	}
	return nil
}

func readRelations(ctx context.Context, q Querier) ([]relation, error) {
	rows, err := q.Query(ctx, `
		SELECT c.relname,
		       CASE c.relkind WHEN 'v' THEN 'view'
		                      WHEN 'm' THEN 'materialized view'
		                      WHEN 'p' THEN 'partitioned table'
		                      ELSE CASE c.relpersistence WHEN 'u' THEN 'unlogged table' ELSE 'table' END
		       END,
		       coalesce(obj_description(c.oid, 'pg_class'), ''),
		       a.attname,
		       format_type(a.atttypid, a.atttypmod),
		       CASE WHEN c.relkind IN ('v', 'm') THEN 'view' WHEN a.attnotnull THEN 'no' ELSE 'yes' END,
		       coalesce(col_description(c.oid, a.attnum), '')
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm')
		  AND c.relname <> 'goose_db_version'
		ORDER BY c.relkind IN ('v', 'm'), c.relname COLLATE "C", a.attnum`, Schema)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	defer rows.Close()
	var rels []relation
	for rows.Next() {
		var relName, kind, relComment string
		var c column
		if err := rows.Scan(&relName, &kind, &relComment, &c.name, &c.typ, &c.nullable, &c.comment); err != nil {
			return nil, fmt.Errorf("read columns: %w", err)
		}
		if len(rels) == 0 || rels[len(rels)-1].name != relName {
			rels = append(rels, relation{name: relName, kind: kind, comment: relComment})
		}
		r := &rels[len(rels)-1]
		r.columns = append(r.columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	return rels, nil
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = oneLine(s)
	s = strings.ReplaceAll(s, "|", `\|`)
	if s == "" {
		return "—"
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
