// Package hubapi is a client for the "Client Management" section of the
// 360dialog Partner API (v2): listing a partner's clients, updating a
// client, and listing the channels (phone numbers) a client shares with the
// partner.
//
// The client is built for a sync service that must keep going when the
// upstream misbehaves:
//
//   - Records are decoded one by one. A malformed record (a field of the
//     wrong type, a missing id) is reported in a BadRecord and never costs
//     the good records of the same page. Every decoded record keeps the
//     object exactly as received in its Raw field, unknown fields included.
//   - Transient failures (429, 5xx, timeouts, a body that stalls after the
//     headers, connection resets, truncated or invalid JSON bodies) are
//     retried with exponential backoff and jitter, bounded by
//     Config.MaxElapsed. Other 4xx answers are permanent. A PATCH is retried
//     only when it surely did not reach the server: see Client.UpdateClient.
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
