// Command hubsync keeps a Postgres database in step with the 360dialog
// Partner API. See the README, or run `hubsync --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hubsync/hubsync/sync/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
