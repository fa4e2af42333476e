// Package fakehub simulates the "Client Management" endpoints of the
// 360dialog Partner API: listing a partner's clients, updating a client and
// listing a client's shared numbers (channels).
//
// A Server is an http.Handler over in-memory state generated
// deterministically from Config.Seed. It is used by `hubsync fakehub` for
// demos, by end-to-end tests of the sync (which drive its Go API to change
// data between runs and to inject faults), and by benchmarks with hundreds of
// thousands of objects. Objects are stored as compact typed structs; each
// object's JSON is rendered once, cached, and invalidated when it changes, so
// serving a page is mostly copying bytes.
//
// The data is deliberately as sloppy as the real API: timestamps come in a
// mix of formats (with Z, with a fraction, with an offset, without a zone),
// nullable fields are sometimes null, optional fields are sometimes absent,
// and names carry unicode, quotes and emoji.
package fakehub

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultPartnerID         = "demo-partner"
	DefaultAPIKey            = "demo-key"
	DefaultClients           = 50
	DefaultChannelsPerClient = 2.5
	DefaultLimit             = 20   // page size when a list request has no limit
	DefaultMaxLimit          = 1000 // clamp for limit when Config.MaxLimit is 0
)

// Config describes the simulated partner, its data set and how the server
// misbehaves. The zero value (plus New's defaults) is a small, well-behaved
// demo partner.
type Config struct {
	// Seed makes the data, the churn, the injected errors and the trace ids
	// reproducible: the same seed and the same sequence of calls give the
	// same bytes.
	Seed int64
	// PartnerID is the only partner the server knows; others get 404.
	// Default "demo-partner".
	PartnerID string
	// APIKey is accepted in the X-API-Key header. Default "demo-key".
	APIKey string
	// Token, when set, is also accepted as "Authorization: Bearer <Token>".
	Token string
	// Clients is the number of clients generated. Default 50. Use a negative
	// value for none (0 means the default).
	Clients int
	// ChannelsPerClient is the mean number of channels per client (Poisson
	// distributed, so some clients have none). Default 2.5. Use a negative
	// value for none (0 means the default).
	ChannelsPerClient float64
	// Latency is added to every request, cut short when the request's
	// context ends.
	Latency time.Duration
	// ListLatency is added to Latency for list requests (GET .../clients),
	// and SharedLatency for shared-number requests, so that one endpoint can
	// answer slower than the other, as a real API's may.
	ListLatency, SharedLatency time.Duration
	// ErrorRate is the fraction (0..1) of authenticated requests answered
	// with 500, 502 or 503 and a DefaultHttpError body.
	ErrorRate float64
	// RPS limits requests per second (token bucket with a burst of
	// ceil(RPS)); excess requests get 429 with Retry-After. 0 means no limit.
	RPS float64
	// MaxLimit clamps the limit query parameter; 0 means 1000.
	MaxLimit int
	// Hostile serves a share of the records, chosen from Seed, with the
	// awkward but valid shapes a real API sends now and then (see
	// HostileClass), and leaves `total` out of some list answers. Ids,
	// paging, sorting, filters and auth are unchanged.
	Hostile bool
	// Logger receives a line per generation and churn; nil discards.
	Logger *slog.Logger
}

// Server is the simulated Partner API: an http.Handler plus the state it
// serves and the test controls that change that state. All methods are safe
// for concurrent use.
type Server struct {
	cfg    Config
	logger *slog.Logger

	mu       sync.RWMutex
	clients  map[string]*client
	byID     []*client // sorted by id
	channels map[string]*channel
	allChans []*channel // unordered, for uniform random picks; channel.idx is the position
	retired  map[string]struct{}
	version  uint64 // bumped on every change that can alter a list result
	clock    int64  // logical clock, unix microseconds
	rng      *rand.Rand

	qmu     sync.Mutex // guards queries, which readers fill under mu.RLock
	queries map[string]queryResult

	errMu  sync.Mutex
	errRng *rand.Rand

	traceSeq atomic.Uint64
	limiter  *rate.Limiter

	hookMu sync.RWMutex
	fault  Fault
	onList func(offset, limit int)

	stats stats
}

// Fault intercepts a request after authentication and before any other
// handling. Returning true means the fault answered (or broke) the request
// and the server must not touch it further. A fault may write any status,
// stall after the headers, truncate a body or hijack and close the
// connection: the ResponseWriter passed in supports http.Flusher and
// http.Hijacker.
type Fault func(w http.ResponseWriter, r *http.Request) (handled bool)

// epoch is "now" for generated data: everything was created before it and
// the logical clock that stamps later changes starts at it. A fixed instant
// keeps the data independent of the wall clock.
var epoch = time.Date(2025, time.June, 1, 9, 0, 0, 0, time.UTC)

// New validates cfg, applies defaults and generates the data set.
func New(cfg Config) (*Server, error) {
	if err := cfg.normalize(); err != nil {
		return nil, fmt.Errorf("fakehub config: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	seed := uint64(cfg.Seed)
	s := &Server{
		cfg:      cfg,
		logger:   logger,
		clients:  make(map[string]*client),
		channels: make(map[string]*channel),
		retired:  make(map[string]struct{}),
		clock:    epoch.UnixMicro(),
		rng:      rand.New(rand.NewPCG(seed, 0x6368_7572_6e21)), // "churn!"
		errRng:   rand.New(rand.NewPCG(seed, 0x6661_756c_7473)), // "faults"
		queries:  make(map[string]queryResult),
	}
	if cfg.RPS > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(cfg.RPS), max(1, int(math.Ceil(cfg.RPS))))
	}
	start := time.Now()
	s.generate()
	s.makeHostile()
	logger.Info("fakehub data generated",
		slog.String("partner_id", cfg.PartnerID),
		slog.Int("clients", len(s.byID)),
		slog.Int("channels", len(s.allChans)),
		slog.Int64("seed", cfg.Seed),
		slog.Duration("took", time.Since(start)))
	return s, nil
}

func (c *Config) normalize() error {
	if c.PartnerID == "" {
		c.PartnerID = DefaultPartnerID
	}
	if c.APIKey == "" {
		c.APIKey = DefaultAPIKey
	}
	switch {
	case c.Clients == 0:
		c.Clients = DefaultClients
	case c.Clients < 0:
		c.Clients = 0
	}
	switch {
	case c.ChannelsPerClient == 0:
		c.ChannelsPerClient = DefaultChannelsPerClient
	case c.ChannelsPerClient < 0:
		c.ChannelsPerClient = 0
	}
	if c.MaxLimit == 0 {
		c.MaxLimit = DefaultMaxLimit
	}
	var errs []error
	if math.IsNaN(c.ChannelsPerClient) || c.ChannelsPerClient > 1000 {
		errs = append(errs, fmt.Errorf("channels per client %v out of range [0, 1000]", c.ChannelsPerClient))
	}
	if c.Latency < 0 || c.ListLatency < 0 || c.SharedLatency < 0 {
		errs = append(errs, fmt.Errorf("latency %v (list +%v, shared numbers +%v) is negative", c.Latency, c.ListLatency, c.SharedLatency))
	}
	if !(c.ErrorRate >= 0 && c.ErrorRate <= 1) {
		errs = append(errs, fmt.Errorf("error rate %v out of range [0, 1]", c.ErrorRate))
	}
	if !(c.RPS >= 0) || math.IsInf(c.RPS, 0) {
		errs = append(errs, fmt.Errorf("rps %v must be a finite number >= 0", c.RPS))
	}
	if c.MaxLimit < 0 {
		errs = append(errs, fmt.Errorf("max limit %d is negative", c.MaxLimit))
	}
	return errors.Join(errs...)
}

// Config returns the configuration in effect, defaults applied.
func (s *Server) Config() Config { return s.cfg }

// tick advances the logical clock by a deterministic few seconds to a minute
// and returns the new instant. Callers hold s.mu.
func (s *Server) tick() int64 {
	s.clock += int64(1+s.rng.IntN(90)) * int64(time.Second/time.Microsecond)
	return s.clock
}

// changed records that list results may differ. Callers hold s.mu.
func (s *Server) changed() {
	s.version++
	s.qmu.Lock()
	clear(s.queries)
	s.qmu.Unlock()
}
