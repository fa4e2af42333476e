// Command dbping exits 0 when the Postgres at DATABASE_URL (default: local,
// user postgres) answers within a few seconds, and 1 otherwise. make test
// uses it to decide whether it must start a database. It never prints the
// URL, which may hold a password.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hubsync/hubsync/sync/dbtest"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbtest.ServerURL())
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		if len(os.Args) > 1 && os.Args[1] == "-v" {
			fmt.Fprintf(os.Stderr, "dbping: Postgres is not reachable at DATABASE_URL: %v\n", err)
		}
		os.Exit(1)
	}
}
