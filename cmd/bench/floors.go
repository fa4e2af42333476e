package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/hubsync/hubsync/sync/hubapi"
)

// fetchResult is what one pass over the API cost.
type fetchResult struct {
	dur               time.Duration
	requests          int64
	throttled         int64
	clients, channels int64
	busy              float64 // share of the machine's CPUs busy meanwhile
	cpu               time.Duration
}

// fetchFloorArg makes the bench binary run fetchAll once and print its
// result: the floor runs in its own process, as the sync does, so that both
// share the machine with the simulator (in the bench process) the same way.
const fetchFloorArg = "__fetch-floor"

// fetchFloor runs fetchAll in a child process.
func fetchFloor(ctx context.Context, baseURL string, pageSize, conc int, rate float64) (fetchResult, error) {
	self, err := os.Executable()
	if err != nil {
		return fetchResult{}, fmt.Errorf("find the bench executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, fetchFloorArg, baseURL, strconv.Itoa(pageSize), strconv.Itoa(conc),
		strconv.FormatFloat(rate, 'f', -1, 64))
	cmd.Stderr = os.Stderr
	busy0 := readCPUStat()
	out, err := cmd.Output()
	if err != nil {
		return fetchResult{}, fmt.Errorf("fetch floor: %w", err)
	}
	var r fetchResult
	var ns int64
	if _, err := fmt.Sscan(string(out), &ns, &r.requests, &r.throttled, &r.clients, &r.channels); err != nil {
		return r, fmt.Errorf("fetch floor: read result %q: %w", out, err)
	}
	r.dur = time.Duration(ns)
	r.busy = busy0.busySince()
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, nil
}

func fetchFloorMain(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "bench: usage: bench "+fetchFloorArg+" URL PAGE_SIZE CONCURRENCY RATE_LIMIT")
		return 2
	}
	pageSize, err1 := strconv.Atoi(args[1])
	conc, err2 := strconv.Atoi(args[2])
	rate, err3 := strconv.ParseFloat(args[3], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		fmt.Fprintln(os.Stderr, "bench: page size, concurrency and rate limit must be numbers")
		return 2
	}
	r, err := fetchAll(context.Background(), args[0], partnerID, apiKey, pageSize, conc, rate, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Println(int64(r.dur), r.requests, r.throttled, r.clients, r.channels)
	return 0
}

// fetchAll is the HTTP floor: it pages every client (sorted by id, pages
// not overlapping) and fetches every client's shared numbers with conc
// requests in flight while paging goes on, at most rate requests a second,
// with the same hubapi client the sync uses, and writes nothing. keep, when
// set, receives each client with its channels as received (from several
// goroutines, one at a time).
func fetchAll(ctx context.Context, baseURL, partner, key string, pageSize, conc int, rate float64,
	keep func(c benchRecord, chans []benchRecord)) (fetchResult, error) {
	api, err := hubapi.New(hubapi.Config{BaseURL: baseURL, PartnerID: partner, APIKey: key, RateLimit: rate})
	if err != nil {
		return fetchResult{}, err
	}
	var (
		res      fetchResult
		channels atomic.Int64
		keepMu   sync.Mutex
	)
	start := time.Now()
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan benchRecord, 2*pageSize)
	g.Go(func() error {
		defer close(jobs)
		for offset := 0; ; {
			page, err := api.ListClients(ctx, hubapi.ListParams{Offset: offset, Limit: pageSize, Sort: "id"})
			if err != nil {
				return err
			}
			for _, raw := range page.Records {
				c, err := readBenchRecord(raw)
				if err != nil {
					return err
				}
				select {
				case jobs <- c:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			n := len(page.Records)
			res.clients += int64(n)
			offset += n
			if n == 0 || (page.TotalKnown && offset >= page.Total) {
				return nil
			}
		}
	})
	for range conc {
		g.Go(func() error {
			for c := range jobs {
				raws, err := api.SharedNumbers(ctx, c.ID)
				if err != nil {
					return err
				}
				channels.Add(int64(len(raws)))
				if keep != nil {
					chans := make([]benchRecord, len(raws))
					for i, raw := range raws {
						if chans[i], err = readBenchRecord(raw); err != nil {
							return err
						}
					}
					keepMu.Lock()
					keep(c, chans)
					keepMu.Unlock()
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("fetch floor: %w", err)
	}
	res.dur = time.Since(start)
	st := api.Stats()
	res.requests, res.throttled, res.channels = st.Requests, st.Throttled, channels.Load()
	return res, nil
}

// copyRows are the clients and channels of a partner as COPY rows shaped
// like hub.clients and hub.channels (their main typed columns, raw and
// content_hash).
type copyRows struct {
	clients, channels [][]any
}

var (
	copyClientCols = []string{"partner_id", "id", "name", "status", "partner_payload", "max_channels",
		"fb_business_id", "organisation", "contact_email", "created_at", "modified_at", "raw", "content_hash"}
	copyChannelCols = []string{"partner_id", "id", "client_id", "status", "availability_status", "hub_status",
		"current_limit", "current_quality_rating", "current_quality_update_event", "phone_number", "phone_name",
		"is_oba", "created_at", "cancelled_at", "terminated_at", "raw", "content_hash"}
)

// benchRecord is the part of a client or channel record the COPY floor
// stores, besides the record itself.
type benchRecord struct {
	ID                        string                  `json:"id"`
	ClientID                  string                  `json:"client_id"`
	Name                      *string                 `json:"name"`
	Status                    *string                 `json:"status"`
	PartnerPayload            *string                 `json:"partner_payload"`
	MaxChannels               *int64                  `json:"max_channels"`
	FBBusinessID              *string                 `json:"fb_business_id"`
	Organisation              *string                 `json:"organisation"`
	ContactInfo               struct{ Email *string } `json:"contact_info"`
	CreatedAt                 *string                 `json:"created_at"`
	ModifiedAt                *string                 `json:"modified_at"`
	AvailabilityStatus        *string                 `json:"availability_status"`
	HubStatus                 *string                 `json:"hub_status"`
	CurrentLimit              *string                 `json:"current_limit"`
	CurrentQualityRating      *string                 `json:"current_quality_rating"`
	CurrentQualityUpdateEvent *string                 `json:"current_quality_update_event"`
	SetupInfo                 struct {
		PhoneNumber *string `json:"phone_number"`
		PhoneName   *string `json:"phone_name"`
	} `json:"setup_info"`
	IsOBA        *bool   `json:"is_oba"`
	CancelledAt  *string `json:"cancelled_at"`
	TerminatedAt *string `json:"terminated_at"`
	Raw          []byte  `json:"-"`
}

func readBenchRecord(raw []byte) (benchRecord, error) {
	var r benchRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("decode record: %w", err)
	}
	r.Raw = raw
	return r, nil
}

func (r *copyRows) add(partner string, c benchRecord, chans []benchRecord) {
	h := sha256.Sum256(c.Raw)
	r.clients = append(r.clients, []any{partner, c.ID, c.Name, c.Status, c.PartnerPayload, c.MaxChannels,
		c.FBBusinessID, c.Organisation, c.ContactInfo.Email, ts(c.CreatedAt), ts(c.ModifiedAt), c.Raw, h[:]})
	for _, ch := range chans {
		clientID := ch.ClientID
		if clientID == "" {
			clientID = c.ID
		}
		h := sha256.Sum256(ch.Raw)
		r.channels = append(r.channels, []any{partner, ch.ID, clientID, ch.Status, ch.AvailabilityStatus, ch.HubStatus,
			ch.CurrentLimit, ch.CurrentQualityRating, ch.CurrentQualityUpdateEvent, ch.SetupInfo.PhoneNumber, ch.SetupInfo.PhoneName,
			ch.IsOBA, ts(ch.CreatedAt), ts(ch.CancelledAt), ts(ch.TerminatedAt), ch.Raw, h[:]})
	}
}

func ts(s *string) *time.Time {
	if s == nil {
		return nil
	}
	t, ok := hubapi.ParseTime(*s)
	if !ok {
		return nil
	}
	return &t
}

// copyFloor is the database floor: pgx CopyFrom of every client and channel
// into empty tables shaped like hub.clients and hub.channels (same columns,
// defaults and indexes), in a scratch schema, with no HTTP.
func copyFloor(ctx context.Context, pool *pgxpool.Pool, rows *copyRows) (time.Duration, error) {
	_, err := pool.Exec(ctx, `CREATE SCHEMA floor;
		CREATE TABLE floor.clients (LIKE hub.clients INCLUDING ALL);
		CREATE TABLE floor.channels (LIKE hub.channels INCLUDING ALL)`)
	if err != nil {
		return 0, fmt.Errorf("create floor tables: %w", err)
	}
	start := time.Now()
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"floor", "clients"}, copyClientCols, pgx.CopyFromRows(rows.clients)); err != nil {
		return 0, fmt.Errorf("copy clients: %w", err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"floor", "channels"}, copyChannelCols, pgx.CopyFromRows(rows.channels)); err != nil {
		return 0, fmt.Errorf("copy channels: %w", err)
	}
	return time.Since(start), nil
}
