package syncer

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/sync/errgroup"
)

// listAhead is how many listed pages may wait for the fetch pool, so that a
// slow list answer never leaves the pool idle while pages are to be had.
const listAhead = 8

// page is one page of clients on its way through the pipeline.
type page struct {
	clients  []listed
	channels [][]jsontext.Value // per client, filled by the fetchers
	failed   []error            // per client: why its channels could not be fetched
	// stored is what the database holds of the page, read while its
	// channels are fetched.
	stored    storedPage
	storedErr error
	// fetched is done when every client's channels and stored are in.
	fetched sync.WaitGroup
}

// pipeline lists, fetches and writes. It returns the ids of every client
// the listing saw when it was proven complete, nil otherwise.
//
// The lister runs up to listAhead pages ahead of the fetches; one
// dispatcher feeds the pages' clients to the fetch pool, shared by all
// pages, and reads what is stored of each page meanwhile; one planner
// decodes each fetched page's new and changed records, and one writer
// commits them, page by page.
func (r *run) pipeline(ctx context.Context) (*idSet, error) {
	g, ctx := errgroup.WithContext(ctx)
	listedPages := make(chan *page, listAhead)
	fetching := make(chan *page, 2)
	var clientsSeen *idSet

	g.Go(func() error {
		defer close(listedPages)
		seen, err := r.list(ctx, func(clients []listed) error {
			p := &page{clients: clients, channels: make([][]jsontext.Value, len(clients)), failed: make([]error, len(clients))}
			p.fetched.Add(len(clients) + 1)
			select {
			case listedPages <- p:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		clientsSeen = seen
		return err
	})

	type fetchJob struct {
		p *page
		i int
	}
	jobs := make(chan fetchJob)
	for range r.s.cfg.Concurrency {
		g.Go(func() error {
			for j := range jobs {
				j.p.channels[j.i], j.p.failed[j.i] = r.s.cfg.API.SharedNumbers(ctx, j.p.clients[j.i].id)
				j.p.fetched.Done()
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(fetching)
		defer close(jobs)
		for p := range listedPages {
			select {
			case fetching <- p:
			case <-ctx.Done():
				return ctx.Err() // nobody waits for this page
			}
			go func() {
				defer p.fetched.Done()
				p.stored, p.storedErr = r.lookUpStored(ctx, p)
			}()
			for i := range p.clients {
				select {
				case jobs <- fetchJob{p, i}:
				case <-ctx.Done():
					p.fetched.Add(i - len(p.clients)) // the jobs never sent
					return ctx.Err()
				}
			}
		}
		return nil
	})

	// Decoding a page and writing the one before it go on at once.
	plans := make(chan pagePlan, 2)
	g.Go(func() error {
		defer close(plans)
		for p := range fetching {
			p.fetched.Wait()
			if err := ctx.Err(); err != nil {
				return err
			}
			pl, err := r.plan(ctx, p)
			if err != nil {
				return err
			}
			select {
			case plans <- pl:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	writerDone := make(chan struct{})
	g.Go(func() error { return r.recordProgress(ctx, writerDone) })
	g.Go(func() error {
		defer close(writerDone)
		for pl := range plans {
			// Pages that are ready while the writer was busy go in one
			// transaction: the writer catches up instead of falling behind.
		more:
			for pl.rows() < maxBatchRows {
				select {
				case next, ok := <-plans:
					if !ok {
						break more
					}
					pl.add(next)
				default:
					break more
				}
			}
			if err := r.writePlan(ctx, &pl); err != nil {
				return err
			}
			r.progress()
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return clientsSeen, nil
}

// progressEvery is how often a run's counts and heartbeat are written to its
// hub.sync_runs row while pages are being written.
const progressEvery = time.Second

// recordProgress writes the run's counts to its hub.sync_runs row every
// progressEvery until done closes.
func (r *run) recordProgress(ctx context.Context, done <-chan struct{}) error {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	var last Counts
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			return nil
		case <-t.C:
		}
		r.mu.Lock()
		c := r.counts
		r.mu.Unlock()
		if c == last {
			continue
		}
		req, retries, throttled := r.apiCounts()
		err := r.retryDB(ctx, "record progress", func() error {
			return r.queries().SyncRunProgress(ctx, progressParams(r.id, c, req, retries, throttled))
		})
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return nil // the run is ending; finish records its counts
			}
			return err
		}
		last = c
	}
}
