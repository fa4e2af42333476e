package hubapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Endpoint names, as used in Error.Endpoint, Config.OnResponse and
// Config.OnRetry (and suitable as a metrics label).
const (
	EndpointListClients   = "list_clients"
	EndpointUpdateClient  = "update_client"
	EndpointSharedNumbers = "shared_numbers"
)

// ErrOutcomeUnknown is wrapped in the error of an UpdateClient call whose
// request may have reached the server but whose answer was lost (a timeout
// or a reset after sending). The update may or may not have been applied;
// read the client back to find out.
var ErrOutcomeUnknown = errors.New("request may have been applied")

// Error is an error answer (an HTTP status of 300 or more) from the API.
// Get it from a returned error with errors.As.
//
// Both documented shapes, DefaultValidationError (400, with details) and
// DefaultHttpError (404 and others), fill the same fields; a body that is
// not in either shape leaves them empty and its start is kept in Body.
type Error struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// DeveloperMessage is meta.developer_message, if sent.
	DeveloperMessage string
	// HTTPCode is meta.http_code, if sent (normally equal to StatusCode).
	HTTPCode int
	// TraceID is meta.360dialog_trace_id, to quote to 360dialog support.
	TraceID string
	// Details is meta.details of a validation error, if sent.
	Details map[string]any
	// RetryAfter is the server's Retry-After, if it sent one.
	RetryAfter time.Duration
	// Endpoint names the operation: "list_clients", "update_client" or
	// "shared_numbers".
	Endpoint string
	// Body is the start of an error body that was not in a documented
	// shape (an HTML page from a proxy, say), as readable text.
	Body string
}

// Error returns a one-line description such as
// "hub api list_clients: 400 Bad Request: invalid sort (trace 1234)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("hub api ")
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" ")
		b.WriteString(t)
	}
	switch {
	case e.DeveloperMessage != "":
		b.WriteString(": ")
		b.WriteString(e.DeveloperMessage)
	case e.Body != "":
		b.WriteString(": ")
		b.WriteString(e.Body)
	}
	if e.TraceID != "" {
		b.WriteString(" (trace ")
		b.WriteString(e.TraceID)
		b.WriteString(")")
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Temporary reports whether the answer is worth retrying later (429 or 5xx).
func (e *Error) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// errorEnvelope covers both DefaultValidationError and DefaultHttpError.
type errorEnvelope struct {
	Meta *struct {
		DeveloperMessage jsontext.Value `json:"developer_message"`
		HTTPCode         jsontext.Value `json:"http_code"`
		TraceID          jsontext.Value `json:"360dialog_trace_id"`
		Details          map[string]any `json:"details"`
	} `json:"meta"`
}

// maxErrorBody caps how much of an error answer is read.
const maxErrorBody = 64 << 10

// maxBodySnippet caps how much of an unstructured error body is kept.
const maxBodySnippet = 200

// parseError builds an *Error from an error answer. It never fails: a body
// in no known shape ends up, shortened, in Body. redact removes secrets the
// server might echo back.
func parseError(endpoint string, status int, h http.Header, body []byte, redact func(string) string) *Error {
	e := &Error{StatusCode: status, Endpoint: endpoint, RetryAfter: parseRetryAfter(h.Get("Retry-After"), time.Now())}
	var env errorEnvelope
	if err := json.Unmarshal(body, &env, decodeOptions); err == nil && env.Meta != nil {
		e.DeveloperMessage = redact(looseString(env.Meta.DeveloperMessage))
		e.TraceID = redact(looseString(env.Meta.TraceID))
		if n, err := strconv.Atoi(looseString(env.Meta.HTTPCode)); err == nil {
			e.HTTPCode = n
		}
		if env.Meta.Details != nil {
			e.Details, _ = redactAny(env.Meta.Details, redact).(map[string]any)
		}
		if e.DeveloperMessage != "" || e.TraceID != "" || e.HTTPCode != 0 || e.Details != nil {
			return e
		}
	}
	e.Body = redact(snippet(body, maxBodySnippet))
	return e
}

// looseString renders a JSON scalar as text: strings unquoted, numbers as
// written, null and absent as "".
func looseString(raw jsontext.Value) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(raw)
}

// redactAny applies redact to every string inside v.
func redactAny(v any, redact func(string) string) any {
	switch x := v.(type) {
	case string:
		return redact(x)
	case map[string]any:
		for k, vv := range x {
			x[k] = redactAny(vv, redact)
		}
		return x
	case []any:
		for i, vv := range x {
			x[i] = redactAny(vv, redact)
		}
		return x
	default:
		return v
	}
}

// snippet returns the start of b as one line of valid UTF-8 text, at most
// n bytes long plus an ellipsis when cut.
func snippet(b []byte, n int) string {
	cut := len(b) > n
	if cut {
		b = b[:n]
		// Drop a rune split by the cut rather than showing it as garbage.
		for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
			r, size := utf8.DecodeLastRune(b)
			if r != utf8.RuneError || size != 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if cut {
		s += "…"
	}
	return s
}

// maxRetryAfter caps absurd Retry-After values.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. It returns 0 when the header is absent, unparseable or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if !(secs > 0) { // also NaN
			return 0
		}
		return time.Duration(min(secs, maxRetryAfter.Seconds()) * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}
