package syncer

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	conn *pgx.Conn
	key  string
	stop context.CancelFunc
	done chan struct{}
}

// tryLock takes the partner's sync lock without waiting. It returns nil, nil
// when another session holds it.
func tryLock(ctx context.Context, pool *pgxpool.Pool, key string) (*lock, error) {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect for sync lock: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&ok); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("take sync lock: %w", err)
	}
	if !ok {
		conn.Close(context.WithoutCancel(ctx))
		return nil, nil
	}
	return &lock{conn: conn, key: key}, nil
}

// watch checks the lock's connection until release, and cancels the run with
// ErrLockLost when the connection dies.
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
				pctx, pcancel := context.WithTimeout(wctx, 5*time.Second)
				err := l.conn.Ping(pctx)
				pcancel()
				if err != nil && wctx.Err() == nil {
					cancel(ErrLockLost)
					return
				}
			}
		}
	}()
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
	_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, l.key)
	_ = l.conn.Close(ctx)
}
