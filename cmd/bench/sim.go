package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hubsync/hubsync/sync/fakehub"
)

// sim is a simulator served in the bench process on a free loopback port.
// Serving it here, rather than in a `hubsync fakehub` subprocess, lets the
// bench change its data between runs (scenario c) through its Go API while
// the sync still runs as a subprocess whose peak RSS is its own.
type sim struct {
	*fakehub.Server
	url string
	srv *http.Server
	ln  net.Listener
}

func startSim(ctx context.Context, cfg fakehub.Config) (*sim, error) {
	s, err := fakehub.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("simulator listen: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Printf("bench: simulator stopped: %v\n", err)
		}
	}()
	return &sim{Server: s, url: "http://" + ln.Addr().String(), srv: srv, ln: ln}, nil
}

func (s *sim) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}
