package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hubsync/hubsync/migrations"
)

func cmdMigrate(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("migrate", "hubsync migrate up|down|status|version [flags]", env)
	load := bind(fs, env.Getenv, "DATABASE_URL", "HUBSYNC_LOG_FORMAT")
	if len(args) == 0 {
		fs.Usage()
		return usagef("migrate: want up, down, status or version")
	}
	sub := args[0]
	if sub == "-h" || sub == "--help" {
		fs.Usage()
		return nil
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch sub {
	case "up", "down", "status", "version":
	default:
		return usagef("migrate: unknown subcommand %q (want up, down, status or version)", sub)
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	log := newLogger(cfg, env, slog.LevelInfo)
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	p, err := migrations.NewProvider(sqlDB)
	if err != nil {
		return err
	}
	switch sub {
	case "up":
		if err := migrations.CheckNotAhead(ctx, p); err != nil {
			return err
		}
		res, err := p.Up(ctx)
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		for _, r := range res {
			fmt.Fprintf(env.Stdout, "applied %s (%s)\n", r.Source.Path, r.Duration.Round(1e6))
		}
		v, _ := p.GetDBVersion(ctx)
		fmt.Fprintf(env.Stdout, "database at version %d (%d applied now)\n", v, len(res))
	case "down":
		r, err := p.Down(ctx)
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		fmt.Fprintf(env.Stdout, "rolled back %s\n", r.Source.Path)
	case "status":
		sts, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("migrate status: %w", err)
		}
		for _, s := range sts {
			when := "pending"
			if !s.AppliedAt.IsZero() {
				when = "applied " + s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(env.Stdout, "%-40s %s\n", s.Source.Path, when)
		}
	case "version":
		v, err := p.GetDBVersion(ctx)
		if err != nil {
			return fmt.Errorf("migrate version: %w", err)
		}
		fmt.Fprintln(env.Stdout, v)
	}
	_ = log
	return nil
}
