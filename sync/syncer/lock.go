package syncer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrLockLost is the cause of a run's cancellation when the connection that
// holds its lock dies: another replica may already be syncing.
var ErrLockLost = errors.New("lost the sync lock: its database connection died")

// lockCheckInterval is how often the lock's connection is checked.
const lockCheckInterval = time.Second

// lock is a session advisory lock held on a dedicated connection, never on a
// pooled one: a pooled connection goes back to the pool between statements,
// and the lock would go with it.
type lock struct {
	pool *pgxpool.Pool
	key  string
	stop context.CancelFunc
	done chan struct{}

	mu    sync.Mutex // guards conn and runID: the watcher and the run both use them
	conn  *pgx.Conn
	runID int64 // once set, regaining the lock requires this run to be still running
}

// regainFor bounds how long a run tries to take its lock again after the
// lock's connection died.
const regainFor = 5 * time.Second

// tryLock takes the partner's sync lock without waiting. It returns nil, nil
// when another session holds it.
func tryLock(ctx context.Context, pool *pgxpool.Pool, key string) (*lock, error) {
	conn, ok, err := lockOn(ctx, pool, key)
	if err != nil || !ok {
		return nil, err
	}
	return &lock{pool: pool, conn: conn, key: key}, nil
}

// lockOn opens a connection and tries the lock on it; the connection is
// returned only when the lock was taken.
func lockOn(ctx context.Context, pool *pgxpool.Pool, key string) (*pgx.Conn, bool, error) {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, false, fmt.Errorf("connect for sync lock: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&ok); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, false, fmt.Errorf("take sync lock: %w", err)
	}
	if !ok {
		conn.Close(context.WithoutCancel(ctx))
		return nil, false, nil
	}
	return conn, true, nil
}

// setRun records the run the lock protects.
func (l *lock) setRun(id int64) {
	l.mu.Lock()
	l.runID = id
	l.mu.Unlock()
}

// watch checks the lock's connection until release. When the connection
// dies (a database restart, an administrator ending backends), it takes the
// lock again on a new connection, provided no other run took over
// meanwhile; failing that, it cancels the run with ErrLockLost.
func (l *lock) watch(ctx context.Context, cancel context.CancelCauseFunc) {
	wctx, stop := context.WithCancel(ctx)
	l.stop = stop
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		t := time.NewTicker(lockCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				if err := l.check(wctx); err != nil && wctx.Err() == nil {
					cancel(err)
					return
				}
			}
		}
	}()
}

// check makes sure the lock is still held, taking it again if its
// connection died. It returns ErrLockLost (wrapped) when it cannot.
func (l *lock) check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	err := l.conn.Ping(pctx)
	pcancel()
	if err == nil {
		return nil
	}
	// A run whose context ended (the watcher cancels it when the lock is
	// lost) must not read this as "still held": the run's last check, before
	// removals, would pass.
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	_ = l.conn.Close(context.WithoutCancel(ctx))
	conn, err := backoff.Retry(ctx, func() (*pgx.Conn, error) {
		conn, ok, err := lockOn(ctx, l.pool, l.key)
		if err == nil && !ok {
			return nil, backoff.Permanent(fmt.Errorf("%w; another run holds it now", ErrLockLost))
		}
		return conn, err
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, Multiplier: 2, RandomizationFactor: 0.2, MaxInterval: time.Second}),
		backoff.WithMaxElapsedTime(regainFor))
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case errors.Is(err, ErrLockLost):
		return err
	case err != nil:
		return fmt.Errorf("%w: %w", ErrLockLost, err)
	}
	if l.runID != 0 {
		var status string
		if serr := conn.QueryRow(ctx, `SELECT status FROM hub.sync_runs WHERE id = $1`, l.runID).Scan(&status); serr != nil || status != "running" {
			// Another run held the lock meanwhile and marked this one
			// abandoned: it must not go on.
			_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, l.key)
			conn.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("%w; another run took over meanwhile (this run is now %q)", ErrLockLost, status)
		}
	}
	l.conn = conn
	return nil
}

// release unlocks and closes the connection. Closing alone would release the
// lock too; unlocking first makes it immediate for the other replicas.
func (l *lock) release() {
	if l.stop != nil {
		l.stop()
		<-l.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, l.key)
	_ = l.conn.Close(ctx)
}
