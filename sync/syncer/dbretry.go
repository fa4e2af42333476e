package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// dbRetries bounds how often retryDB tries an operation again after a lost
// connection; dbRetryBackoff is its first wait.
var (
	dbRetries      uint = 4
	dbRetryBackoff      = 100 * time.Millisecond
)

// retryDB runs op, and runs it again with growing waits when it failed on a
// lost or refused database connection: the server restarted, a failover,
// an administrator ending backends. op must be a whole transaction (or a
// single statement), so that a failed try left nothing behind.
func (r *run) retryDB(ctx context.Context, what string, op func() error) error {
	tries := 0
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		tries++
		err := op()
		if err != nil && !isConnError(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval: dbRetryBackoff, Multiplier: 2, RandomizationFactor: 0.2, MaxInterval: 5 * time.Second,
		}),
		backoff.WithMaxTries(dbRetries+1),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, wait time.Duration) {
			r.log.Warn("database connection lost; retrying", "operation", what, "try", tries, "wait", wait, "err", err)
		}),
	)
	if err != nil && tries > 1 {
		return fmt.Errorf("%s (after %d tries): %w", what, tries, err)
	}
	return err
}

// isConnError reports whether err means the database connection was lost or
// could not be made, rather than that the statement itself was refused.
func isConnError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03": // admin or crash shutdown, cannot connect now
			return true
		}
		return pgErr.Code[:2] == "08" // connection exception
	}
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isNetError(err)
}

// isNetError reports an error of a connection the server closed or reset
// under a statement.
func isNetError(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
