package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hubsync/hubsync/db"
	"github.com/hubsync/hubsync/sync/metrics"
	"github.com/hubsync/hubsync/sync/schedule"
	"github.com/hubsync/hubsync/sync/syncer"
)

var serveSettings = append([]string{"HUBSYNC_SCHEDULE", "HUBSYNC_HTTP_ADDR", "HUBSYNC_SHUTDOWN_GRACE", "HUBSYNC_RUN_AT_START"}, syncSettings...)

func cmdServe(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("serve", "hubsync serve [flags]", env)
	load := bind(fs, env.Getenv, serveSettings...)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	m := metrics.New()
	w, err := cfg.openWorker(ctx, env, slog.LevelInfo, m)
	if err != nil {
		return err
	}
	defer w.close()
	log, pool := w.log, w.pool
	sqlDB, hasPending, err := migrationsProvider(pool)
	if err != nil {
		return err
	}
	defer sqlDB.Close()

	sy := syncer.New(w.syncerConfig())
	q := db.New(pool)
	sched, err := schedule.New(schedule.Config{
		Schedule:      cfg.Schedule,
		RunAtStart:    cfg.RunAtStart,
		ShutdownGrace: cfg.ShutdownGrace,
		Addr:          cfg.HTTPAddr,
		Metrics:       m,
		Logger:        log,
		Job: func(ctx context.Context) (string, error) {
			res, err := sy.Run(ctx)
			if err == nil && res.Status == syncer.StatusPartial {
				err = errors.New(res.Error)
			}
			return string(res.Status), err
		},
		LastSuccess: func(ctx context.Context) (time.Time, bool, error) {
			t, err := q.SyncRunLastSucceeded(ctx, cfg.PartnerID)
			if err != nil {
				return time.Time{}, false, err
			}
			return t.Time, t.Valid, nil
		},
		Ready: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return fmt.Errorf("database unreachable: %w", err)
			}
			pending, err := hasPending(ctx)
			if err != nil {
				return fmt.Errorf("check migrations: %w", err)
			}
			if pending {
				return errors.New("database migrations are not current")
			}
			return nil
		},
	})
	if err != nil {
		return usagef("%v", err)
	}
	log.Info("hubsync serve starting", "partner_id", cfg.PartnerID, "schedule", cfg.Schedule, "http_addr", cfg.HTTPAddr)
	if err := sched.Run(ctx); err != nil {
		return err
	}
	log.Info("hubsync serve stopped")
	return nil
}
