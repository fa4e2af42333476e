// Package hubapi is a client for the "Client Management" section of the
// 360dialog Partner API (v2): listing a partner's clients, updating a
// client, and listing the channels (phone numbers) a client shares with the
// partner.
//
// It knows HTTP and the shapes of the answers, and nothing about what a
// caller stores:
//
//   - Records come back exactly as received, one jsontext.Value per element
//     of an answer's array, unknown fields, odd types and all; what to decode
//     is the caller's decision (the syncer reads them leniently). The
//     documented enum values and the API's timestamp formats are here too
//     (ChannelStatuses, ParseTime).
//   - Transient failures (429, 5xx, timeouts, a body that stalls after the
//     headers, connection resets, a truncated or malformed body) are retried
//     with exponential backoff and jitter, bounded by Config.MaxElapsed.
//     Other 4xx answers, and whole answers of an unexpected shape, are
//     permanent. A PATCH is retried only when it surely did not reach the
//     server: see Client.UpdateClient.
//   - All calls of one Client share an adaptive Pacer: a 429 halves the
//     request rate and pauses every caller until its Retry-After has passed;
//     successes then raise the rate back to Config.RateLimit.
//   - Error answers become *Error (use errors.As), whichever of the API's
//     error shapes the server sent, or none.
//
// The API key and token are sent only in request headers. They never appear
// in errors or log lines, and if the server echoes them back in an error
// message they are redacted.
package hubapi
