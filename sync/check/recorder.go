package check

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hubsync/hubsync/sync/hubapi"
)

// maxRecordedBody caps the copy of one answer's body. An answer larger than
// this is reported, not analysed.
const maxRecordedBody = 32 << 20

// exchange is one HTTP request and its answer, as the recorder saw them.
type exchange struct {
	endpoint string
	call     int // the check's call the request belongs to (see withCall); 0 for none
	status   int // 0 when no answer came
	latency  time.Duration
	// rateHeaders holds the answer's rate-limit headers (X-RateLimit-*,
	// RateLimit-*, Retry-After), first value of each.
	rateHeaders map[string]string
	body        []byte
	complete    bool // the body was read to its end, and not cut by maxRecordedBody
}

// recorder is the http.RoundTripper the check hands hubapi. It records every
// exchange, retries included, so that the check reads what the API sent
// rather than what hubapi made of it: hubapi is used for its pacing and
// retries only.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	all  []*exchange
}

type callKey struct{}

// withCall tags ctx so that the requests sent under it are recorded as
// belonging to call n.
func withCall(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, callKey{}, n)
}

// RoundTrip implements http.RoundTripper.
func (rec *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := &exchange{endpoint: endpointOf(req.URL.Path)}
	ex.call, _ = req.Context().Value(callKey{}).(int)
	start := time.Now()
	resp, err := rec.next.RoundTrip(req)
	if err != nil {
		ex.latency = time.Since(start)
		rec.add(ex)
		return resp, err
	}
	ex.status = resp.StatusCode
	ex.rateHeaders = rateHeaders(resp.Header)
	resp.Body = &recordingBody{ReadCloser: resp.Body, rec: rec, ex: ex, start: start}
	return resp, nil
}

func (rec *recorder) add(ex *exchange) {
	rec.mu.Lock()
	rec.all = append(rec.all, ex)
	rec.mu.Unlock()
}

// exchanges returns the exchanges finished so far.
func (rec *recorder) exchanges() []*exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*exchange(nil), rec.all...)
}

// answer returns the last complete 200 answer of call n, or nil.
func (rec *recorder) answer(n int) *exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := len(rec.all) - 1; i >= 0; i-- {
		if ex := rec.all[i]; ex.call == n && ex.status == http.StatusOK && ex.complete {
			return ex
		}
	}
	return nil
}

// recordingBody copies the body as hubapi reads it and records the exchange
// when the body ends or is closed.
type recordingBody struct {
	io.ReadCloser
	rec   *recorder
	ex    *exchange
	start time.Time
	once  sync.Once
	over  bool // the body outgrew maxRecordedBody
	// finished is set once the exchange is recorded; Read and Close run
	// on the one goroutine that reads the body.
	finished bool
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		if len(b.ex.body)+n <= maxRecordedBody {
			b.ex.body = append(b.ex.body, p[:n]...)
		} else {
			b.over = true
		}
	}
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

// Close reads what hubapi left unread (trailing whitespace after a JSON
// document, say; at most maxRecordedBody bytes) into the copy before
// closing, so that the recorded body is whole whenever the server sent it
// whole.
func (b *recordingBody) Close() error {
	buf := make([]byte, 32<<10)
	for drained := 0; !b.finished && drained < maxRecordedBody; {
		n, err := b.Read(buf)
		drained += n
		if err != nil {
			break
		}
	}
	err := b.ReadCloser.Close()
	b.finish(false)
	return err
}

func (b *recordingBody) finish(eof bool) {
	b.once.Do(func() {
		b.finished = true
		b.ex.latency = time.Since(b.start)
		b.ex.complete = eof && !b.over
		b.rec.add(b.ex)
	})
}

// endpointOf names the endpoint of a request path as hubapi does.
func endpointOf(path string) string {
	switch {
	case strings.HasSuffix(path, "/shared_client_numbers"):
		return hubapi.EndpointSharedNumbers
	case strings.HasSuffix(path, "/clients"):
		return hubapi.EndpointListClients
	}
	return "other"
}

// rateHeaders picks the rate-limit headers of an answer.
func rateHeaders(h http.Header) map[string]string {
	var out map[string]string
	for name, vs := range h {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "x-ratelimit") || strings.HasPrefix(l, "x-rate-limit") ||
			strings.HasPrefix(l, "ratelimit") || l == "retry-after" {
			if out == nil {
				out = map[string]string{}
			}
			if len(vs) > 0 {
				out[name] = clean(vs[0], 100)
			}
		}
	}
	return out
}
