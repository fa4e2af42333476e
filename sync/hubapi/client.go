package hubapi

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-json-experiment/json/jsontext"
)

// Config configures a Client. Only BaseURL and PartnerID are required.
type Config struct {
	// BaseURL is the API root, e.g. https://hub.360dialog.io. It may carry
	// a path prefix; it must not carry a query, a fragment or credentials.
	BaseURL string
	// PartnerID is the partner whose clients are read and written.
	PartnerID string
	// APIKey is sent as the X-API-Key header (preferred by 360dialog).
	APIKey string
	// Token is sent as "Authorization: Bearer <Token>" when APIKey is empty.
	Token string
	// HTTPClient sends the requests. The default has dial, TLS handshake
	// and response header timeouts but no overall Timeout (RequestTimeout
	// covers each attempt), and refuses redirects to another host so that
	// the API key does not leak.
	HTTPClient *http.Client
	// RequestTimeout bounds one attempt, reading the body included, so a
	// server that sends its headers and then stalls is cut off. Default 30s.
	RequestTimeout time.Duration
	// RateLimit is the ceiling on requests per second across all calls of
	// the Client (see Pacer); 0 means unlimited.
	RateLimit float64
	// MaxElapsed is the total time one call may spend on failed attempts
	// and the waits between them; a retry that would start after it is not
	// made. Time spent queued in the shared Pacer (behind other calls, or
	// in a pause another call's 429 began) does not count: under heavy
	// pacing a call is slow, not failing. Default 2m.
	MaxElapsed time.Duration
	// InitialBackoff is the first wait between retries; later waits grow
	// exponentially (×1.5, ±50% jitter, at most 30s). Default 500ms.
	InitialBackoff time.Duration
	// Logger receives debug lines about retries and info lines about
	// throttling; never secrets or headers. Default: discard.
	Logger *slog.Logger
	// OnResponse, if set, is called after every attempt with the endpoint
	// name ("list_clients", "update_client" or "shared_numbers"), the HTTP
	// status (0 for a transport error, including a body that could not be
	// read) and the attempt's duration. It must be safe for concurrent use.
	OnResponse func(endpoint string, code int, d time.Duration)
	// OnRetry, if set, is called before every retry with the endpoint name
	// and the reason: "429", "5xx", "timeout", "reset", "truncated" or
	// "dial". It must be safe for concurrent use.
	OnRetry func(endpoint, reason string)
}

// Client calls the Partner API. It is safe for concurrent use; all calls
// share one Pacer.
type Client struct {
	base       string // without trailing slash
	partnerID  string
	apiKey     string
	token      string
	http       *http.Client
	timeout    time.Duration
	maxElapsed time.Duration
	initial    time.Duration
	log        *slog.Logger
	onResponse func(string, int, time.Duration)
	onRetry    func(string, string)
	pacer      *Pacer

	requests  atomic.Int64
	retries   atomic.Int64
	throttled atomic.Int64
}

// Stats are cumulative counters of a Client.
type Stats struct {
	// Requests counts attempts made (retries included), including those
	// that failed to connect.
	Requests int64
	// Retries counts attempts that were retries.
	Retries int64
	// Throttled counts 429 answers.
	Throttled int64
}

// Defaults of Config.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxElapsed     = 2 * time.Minute
	DefaultInitialBackoff = 500 * time.Millisecond
)

const (
	maxBackoffInterval = 30 * time.Second
	// maxSuccessBody caps a successful answer; a page of clients is far
	// smaller.
	maxSuccessBody = 64 << 20
	userAgent      = "hubsync (+https://github.com/hubsync/hubsync)"
)

// New checks cfg and returns a Client. BaseURL must be an absolute http or
// https URL and PartnerID non-empty. Errors never quote the API key, the
// token or the URL's credentials.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.BaseURL))
	switch {
	case cfg.BaseURL == "":
		return nil, errors.New("hub api config: BaseURL is required")
	case err != nil:
		return nil, errors.New("hub api config: BaseURL is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("hub api config: BaseURL must be an absolute http or https URL (scheme %q)", u.Scheme)
	case u.Host == "":
		return nil, errors.New("hub api config: BaseURL has no host")
	case u.User != nil:
		return nil, errors.New("hub api config: BaseURL must not contain credentials; use APIKey or Token")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("hub api config: BaseURL must not have a query or fragment")
	}
	if strings.TrimSpace(cfg.PartnerID) == "" {
		return nil, errors.New("hub api config: PartnerID is required")
	}
	if !validHeaderValue(cfg.APIKey) {
		return nil, errors.New("hub api config: APIKey contains characters not allowed in a header")
	}
	if !validHeaderValue(cfg.Token) {
		return nil, errors.New("hub api config: Token contains characters not allowed in a header")
	}
	if cfg.RateLimit < 0 || math.IsNaN(cfg.RateLimit) || math.IsInf(cfg.RateLimit, 0) {
		return nil, fmt.Errorf("hub api config: RateLimit must be a finite number >= 0 (got %v)", cfg.RateLimit)
	}
	if cfg.RequestTimeout < 0 || cfg.MaxElapsed < 0 || cfg.InitialBackoff < 0 {
		return nil, errors.New("hub api config: durations must not be negative")
	}
	c := &Client{
		base:       strings.TrimRight(u.String(), "/"),
		partnerID:  cfg.PartnerID,
		apiKey:     cfg.APIKey,
		token:      cfg.Token,
		http:       cfg.HTTPClient,
		timeout:    cmp.Or(cfg.RequestTimeout, DefaultRequestTimeout),
		maxElapsed: cmp.Or(cfg.MaxElapsed, DefaultMaxElapsed),
		initial:    cmp.Or(cfg.InitialBackoff, DefaultInitialBackoff),
		log:        cfg.Logger,
		onResponse: cfg.OnResponse,
		onRetry:    cfg.OnRetry,
		pacer:      NewPacer(cfg.RateLimit),
	}
	if c.http == nil {
		c.http = NewHTTPClient()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func validHeaderValue(v string) bool {
	return !strings.ContainsAny(v, "\r\n\x00")
}

// NewHTTPClient returns the *http.Client New uses by default: a transport
// with dial (10s), TLS handshake (10s) and response header (30s) timeouts,
// no overall Timeout (a slow large body is bounded per attempt by
// Config.RequestTimeout instead), and no redirects to another host.
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 30 * time.Second
	tr.ExpectContinueTimeout = time.Second
	tr.IdleConnTimeout = 90 * time.Second
	tr.MaxIdleConnsPerHost = 32
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errTooManyRedirects
			}
			if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
				return errCrossHostRedirect
			}
			return nil
		},
	}
}

var (
	errTooManyRedirects  = errors.New("stopped after 5 redirects")
	errCrossHostRedirect = errors.New("refusing redirect to another host")
)

// Stats returns the Client's cumulative counters.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.requests.Load(), Retries: c.retries.Load(), Throttled: c.throttled.Load()}
}

// Pacer returns the Client's shared Pacer, e.g. to export its current
// limit as a metric.
func (c *Client) Pacer() *Pacer { return c.pacer }

// PartnerID returns the partner the Client works for.
func (c *Client) PartnerID() string { return c.partnerID }

// redact hides the API key and token in text from the server.
func (c *Client) redact(s string) string {
	for _, secret := range []string{c.apiKey, c.token} {
		if len(secret) >= 4 { // shorter ones would mangle unrelated text
			s = strings.ReplaceAll(s, secret, "[REDACTED]")
		}
	}
	return s
}

// call describes one API operation.
type call struct {
	endpoint string
	method   string
	path     string // escaped, below BaseURL
	query    url.Values
	body     []byte
	// idempotent operations are retried after any transient failure; the
	// others only when the request surely never reached the server.
	idempotent bool
	// parse reads a successful answer's body. A body it refuses is damaged
	// in transit as far as the client can tell (truncated, cut by a proxy):
	// the call is retried like any transient failure.
	parse func([]byte) error
}

// attemptError is a failed attempt that may be retried.
type attemptError struct {
	err    error
	reason string        // for OnRetry
	after  time.Duration // the server's Retry-After, if any
}

func (e *attemptError) Error() string { return e.err.Error() }

// Unwrap exposes the cause and, for a Retry-After, the signal that makes
// backoff.Retry wait exactly that long.
func (e *attemptError) Unwrap() []error {
	if e.after > 0 {
		return []error{e.err, &backoff.RetryAfterError{Duration: e.after}}
	}
	return []error{e.err}
}

// do runs op with retries until its answer is a success that op.parse
// accepts.
func (c *Client) do(ctx context.Context, op call) error {
	u := c.base + op.path
	if len(op.query) > 0 {
		u += "?" + op.query.Encode()
	}
	var (
		attempts int
		lastErr  error
	)
	bud := &budget{
		BackOff: &backoff.ExponentialBackOff{
			InitialInterval:     c.initial,
			RandomizationFactor: backoff.DefaultRandomizationFactor,
			Multiplier:          backoff.DefaultMultiplier,
			MaxInterval:         maxBackoffInterval,
		},
		start: time.Now(),
		max:   c.maxElapsed,
	}
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempts++
		queued, err := c.attempt(ctx, op, u)
		bud.queued += queued
		if err != nil && ctx.Err() == nil {
			lastErr = err
		}
		// A Retry-After replaces the backoff's own wait (see backoff.Retry):
		// check it against the budget here.
		var ae *attemptError
		if errors.As(err, &ae) && ae.after > 0 && bud.spent()+ae.after > bud.max {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(bud),
		backoff.WithMaxElapsedTime(0), // bud keeps the budget
		backoff.WithNotify(func(err error, wait time.Duration) {
			reason := "error"
			var ae *attemptError
			if errors.As(err, &ae) {
				reason = ae.reason
			}
			c.retries.Add(1)
			c.log.LogAttrs(ctx, slog.LevelDebug, "hub api retry",
				slog.String("endpoint", op.endpoint), slog.String("path", op.path),
				slog.Int("attempt", attempts), slog.String("reason", reason),
				slog.Duration("wait", wait), slog.String("error", err.Error()))
			if c.onRetry != nil {
				c.onRetry(op.endpoint, reason)
			}
		}),
	)
	if err == nil {
		return nil
	}
	var ae *attemptError
	if errors.As(err, &ae) {
		err = ae.err
	}
	if ctx.Err() != nil && lastErr != nil && !errors.Is(lastErr, ctx.Err()) {
		// backoff.Retry returns the bare context error; keep what went wrong.
		if errors.As(lastErr, &ae) {
			lastErr = ae.err
		}
		err = fmt.Errorf("%w (last error: %w)", err, lastErr)
	}
	if attempts > 1 {
		return fmt.Errorf("gave up after %d attempts: %w", attempts, err)
	}
	return err
}

// budget is the retry policy of one call: exponential backoff, stopped once
// the next wait would take the call past max. The time the call spent
// queued in the Pacer is not counted.
type budget struct {
	backoff.BackOff
	start  time.Time
	max    time.Duration
	queued time.Duration
}

// spent is the call's time so far, less its time queued in the Pacer.
func (b *budget) spent() time.Duration { return time.Since(b.start) - b.queued }

// NextBackOff returns the next wait, or backoff.Stop when it would take the
// call past its budget.
func (b *budget) NextBackOff() time.Duration {
	next := b.BackOff.NextBackOff()
	if next == backoff.Stop || b.spent()+next > b.max {
		return backoff.Stop
	}
	return next
}

// attempt sends one request, after waiting its turn in the Pacer; queued is
// how long that wait took. Errors that must not be retried come back as
// *backoff.PermanentError, the others as *attemptError.
func (c *Client) attempt(ctx context.Context, op call, u string) (queued time.Duration, err error) {
	waitStart := time.Now()
	err = c.pacer.Wait(ctx)
	queued = time.Since(waitStart)
	if err != nil {
		return queued, backoff.Permanent(fmt.Errorf("wait for rate limit: %w", err))
	}
	return queued, c.send(ctx, op, u)
}

// send makes one attempt of op.
func (c *Client) send(ctx context.Context, op call, u string) error {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	// Once a connection is in hand, the request may reach the server.
	var connected atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	})
	var body io.Reader
	if op.body != nil {
		body = bytes.NewReader(op.body)
	}
	req, err := http.NewRequestWithContext(actx, op.method, u, body)
	if err != nil {
		return backoff.Permanent(fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if op.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.apiKey != "":
		req.Header.Set("X-API-Key", c.apiKey)
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	}

	c.requests.Add(1)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.observe(op.endpoint, 0, start)
		return c.transportError(ctx, actx, op, err, connected.Load(), "send request")
	}
	defer resp.Body.Close()

	limit := int64(maxSuccessBody)
	if resp.StatusCode >= 300 {
		limit = maxErrorBody
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		c.observe(op.endpoint, 0, start)
		return c.transportError(ctx, actx, op, err, true, fmt.Sprintf("read %d answer", resp.StatusCode))
	}
	c.observe(op.endpoint, resp.StatusCode, start)

	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		c.throttled.Add(1)
		apiErr := parseError(op.endpoint, code, resp.Header, truncate(data, limit), c.redact)
		pause := min(apiErr.RetryAfter, c.maxElapsed)
		before := c.pacer.Limit()
		c.pacer.Throttled(pause)
		if after := c.pacer.Limit(); after != before {
			c.log.LogAttrs(ctx, slog.LevelInfo, "hub api throttled: lowering request rate",
				slog.String("endpoint", op.endpoint), slog.Float64("rate", after),
				slog.Duration("retry_after", apiErr.RetryAfter))
		}
		// A 429 was refused, not processed: safe to retry even a PATCH.
		return &attemptError{err: apiErr, reason: "429", after: apiErr.RetryAfter}
	case code >= 500:
		apiErr := parseError(op.endpoint, code, resp.Header, truncate(data, limit), c.redact)
		if !op.idempotent {
			return backoff.Permanent(fmt.Errorf("%w: %w", ErrOutcomeUnknown, apiErr))
		}
		return &attemptError{err: apiErr, reason: "5xx", after: apiErr.RetryAfter}
	case code >= 300:
		c.pacer.Succeeded()
		return backoff.Permanent(parseError(op.endpoint, code, resp.Header, truncate(data, limit), c.redact))
	}
	c.pacer.Succeeded()
	if int64(len(data)) > limit {
		return backoff.Permanent(fmt.Errorf("answer larger than %d bytes", limit))
	}
	if err := op.parse(data); err != nil {
		if jsontext.Value(data).IsValid(decodeOptions) {
			// Whole and well-formed, but not the documented shape: asking
			// again would get the same.
			return backoff.Permanent(fmt.Errorf("%d answer of an unexpected shape (%q): %w", resp.StatusCode, snippet(data, 80), err))
		}
		err = fmt.Errorf("invalid or truncated JSON in %d answer (%d bytes, %q): %w", resp.StatusCode, len(data), snippet(data, 80), err)
		if !op.idempotent {
			// The server did answer 2xx: the update was applied.
			return backoff.Permanent(err)
		}
		return &attemptError{err: err, reason: "truncated"}
	}
	return nil
}

func truncate(b []byte, n int64) []byte {
	if int64(len(b)) > n {
		return b[:n]
	}
	return b
}

func (c *Client) observe(endpoint string, code int, start time.Time) {
	if c.onResponse != nil {
		c.onResponse(endpoint, code, time.Since(start))
	}
}

// transportError classifies a failure to send or to read an answer.
// connected tells whether the request may have reached the server.
func (c *Client) transportError(ctx, actx context.Context, op call, err error, connected bool, what string) error {
	err = fmt.Errorf("%s: %w", what, err)
	if ctx.Err() != nil { // the caller gave up: not ours to retry
		return backoff.Permanent(err)
	}
	reason := "reset"
	var (
		netErr  net.Error
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, errCrossHostRedirect), errors.Is(err, errTooManyRedirects),
		errors.As(err, &certErr), errors.As(err, &recErr):
		return backoff.Permanent(err)
	case actx.Err() != nil:
		reason = "timeout"
		err = fmt.Errorf("%w (attempt timeout %s)", err, c.timeout)
	case isDialError(err):
		reason = "dial"
	case errors.As(err, &netErr) && netErr.Timeout():
		reason = "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF):
		reason = "truncated"
	}
	if !op.idempotent && connected {
		return backoff.Permanent(fmt.Errorf("%w: %w", ErrOutcomeUnknown, err))
	}
	return &attemptError{err: err, reason: reason}
}

// isDialError reports whether err happened while connecting, before any
// byte of the request was written.
func isDialError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}
