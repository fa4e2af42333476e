package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// dbRetries bounds how often retryDB tries an operation that failed on a
// lost connection; dbRetryBackoff is its first wait, doubled each time.
var (
	dbRetries      = 4
	dbRetryBackoff = 100 * time.Millisecond
)

// retryDB runs op, and runs it again (up to dbRetries more times, with
// doubling waits) when it failed on a lost or refused database connection:
// the server restarted, a failover, an administrator ending backends. op
// must be a whole transaction (or a single statement), so that a failed try
// left nothing behind.
func (r *run) retryDB(ctx context.Context, what string, op func() error) error {
	wait := dbRetryBackoff
	for try := 0; ; try++ {
		err := op()
		if err == nil || try >= dbRetries || !isConnError(err) || ctx.Err() != nil {
			if err != nil && try > 0 {
				err = fmt.Errorf("%s (after %d tries): %w", what, try+1, err)
			}
			return err
		}
		r.log.Warn("database connection lost; retrying", "operation", what, "try", try+1, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (while retrying after: %w)", what, ctx.Err(), err)
		}
		wait *= 2
	}
}

// isConnError reports whether err means the database connection was lost or
// could not be made, rather than that the statement itself was refused.
func isConnError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08": // connection exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		case pgErr.Code == "40P01": // deadlock: two pages written at once held one id each (a moved channel)
			return true
		}
		return false
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	// A connection that died under a statement: pgx reports an I/O error,
	// which SafeToRetry covers only when nothing was sent.
	return pgconn.SafeToRetry(err) || isClosedConn(err)
}

// isClosedConn reports an error from a connection the server closed or
// reset, or that pgx had already found dead.
func isClosedConn(err error) bool {
	var netErr *net.OpError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &netErr) ||
		strings.Contains(err.Error(), "conn closed")
}
