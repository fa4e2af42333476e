package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/hubsync/hubsync/sync/analytics"
)

func cmdDocs(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("docs", "hubsync docs [--out FILE] [flags]", env)
	load := bind(fs, env.Getenv, "DATABASE_URL", "HUBSYNC_LOG_FORMAT")
	out := fs.String("out", "", "write the data dictionary to FILE instead of standard output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrateUp(ctx, pool, newLogger(cfg, env, slog.LevelWarn)); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := analytics.WriteDictionary(ctx, pool, &buf); err != nil {
		return fmt.Errorf("write data dictionary: %w", err)
	}
	if *out == "" {
		_, err := env.Stdout.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(env.Stdout, "wrote %s\n", *out)
	return nil
}
