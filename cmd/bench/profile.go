package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hubsync/hubsync/sync/fakehub"
	"github.com/hubsync/hubsync/sync/hubapi"
	"github.com/hubsync/hubsync/sync/syncer"
)

// profileSync runs an initial sync and an unchanged re-sync of o.clients
// clients in this process (simulator included), writing a CPU profile and an
// execution trace of each into o.profile. The trace shows where the run
// waits: `go tool trace -pprof=net` (network, i.e. Postgres and HTTP),
// `-pprof=sync` (channels, WaitGroups, mutexes).
func profileSync(ctx context.Context, o *options, srv *pgServer, logf func(string, ...any)) error {
	if err := os.MkdirAll(o.profile, 0o755); err != nil {
		return err
	}
	s, err := startSim(ctx, fakehub.Config{Seed: o.seed, Clients: o.clients, ChannelsPerClient: o.perClient})
	if err != nil {
		return err
	}
	defer s.close()
	dbURL, err := srv.createDB(ctx)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect to scratch database: %w", err)
	}
	defer pool.Close()
	api, err := hubapi.New(hubapi.Config{BaseURL: s.url, PartnerID: partnerID, APIKey: apiKey, RateLimit: 100_000})
	if err != nil {
		return err
	}
	sy := syncer.New(syncer.Config{Pool: pool, API: api, PartnerID: partnerID, PageSize: o.pageSize, Concurrency: o.concurrency})
	for _, name := range []string{"a", "b"} {
		cpuF, err := os.Create(filepath.Join(o.profile, name+".cpu.pprof"))
		if err != nil {
			return err
		}
		trF, err := os.Create(filepath.Join(o.profile, name+".trace"))
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(cpuF); err != nil {
			return err
		}
		if err := trace.Start(trF); err != nil {
			return err
		}
		start := time.Now()
		res, err := sy.Run(ctx)
		trace.Stop()
		pprof.StopCPUProfile()
		cpuF.Close()
		trF.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", name, err)
		}
		logf("profiled sync %s: %s in %.1f s, %d requests, %d transitions", name, res.Status, time.Since(start).Seconds(), res.APIRequests, res.Transitions)
		if err := settle(ctx, pool); err != nil {
			return err
		}
	}
	logf("profiles in %s: go tool pprof -top %s; go tool trace -pprof=net %s > net.pprof",
		o.profile, filepath.Join(o.profile, "a.cpu.pprof"), filepath.Join(o.profile, "a.trace"))
	return nil
}
