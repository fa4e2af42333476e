package hubapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// ListParams selects a page of clients.
type ListParams struct {
	// Offset is the number of clients to skip.
	Offset int
	// Limit is the page size; 0 leaves it to the server.
	Limit int
	// Sort is a client field such as "created_at", "-" prefixed for
	// descending order; empty leaves the order to the server.
	Sort string
	// Filters maps client fields (e.g. "status", "contact_info.email") to
	// the value they must equal. Sent as a JSON object.
	Filters map[string]any
}

// ClientsPage is one page of ListClients.
type ClientsPage struct {
	// Limit, Offset, Total and Count are as the server sent them (0 when
	// absent). Count defaults to the number of records in the page.
	Limit, Offset, Total, Count int
	// TotalKnown tells whether the server sent total; without it, the
	// end of the listing cannot be proven.
	TotalKnown bool
	// Sort and Filters echo the server's view of the request.
	Sort    []string
	Filters map[string]any
	// Clients are the records that decoded, in page order.
	Clients []PartnerClient
	// Bad are the records that could not be decoded; the good ones are
	// still in Clients. len(Clients)+len(Bad) is the page's record count.
	Bad []BadRecord
}

// BadRecord is a record of a page that could not be decoded.
type BadRecord struct {
	// Index is the record's position in the page (from 0).
	Index int
	// ID is the record's id if one could be extracted, else "".
	ID string
	// Snippet is the start of the record as received (about 200 bytes).
	Snippet string
	// Err says what is wrong with it.
	Err error
}

// ErrMissingID is the Err of a BadRecord without an id.
var ErrMissingID = errors.New("missing id")

// ListClients fetches one page of the partner's clients
// (GET /api/v2/partners/{partner_id}/clients). It is retried on transient
// failures. Records that do not decode are returned in ClientsPage.Bad
// rather than failing the page.
func (c *Client) ListClients(ctx context.Context, p ListParams) (*ClientsPage, error) {
	if p.Offset < 0 || p.Limit < 0 {
		return nil, fmt.Errorf("list clients: negative offset or limit (%d, %d)", p.Offset, p.Limit)
	}
	q := url.Values{}
	q.Set("offset", strconv.Itoa(p.Offset))
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Sort != "" {
		q.Set("sort", p.Sort)
	}
	if len(p.Filters) > 0 {
		f, err := json.Marshal(p.Filters)
		if err != nil {
			return nil, fmt.Errorf("list clients: encode filters: %w", err)
		}
		q.Set("filters", string(f))
	}
	var (
		salvaged *ClientsPage
		ok       bool
	)
	body, err := c.do(ctx, call{
		endpoint:   EndpointListClients,
		method:     http.MethodGet,
		path:       c.partnerPath() + "/clients",
		query:      q,
		idempotent: true,
		// do checks that a body is valid JSON; one that is not comes back
		// only when this salvaged it, so the body is not checked again.
		salvage: func(b []byte) bool { salvaged, ok = salvageClientsPage(b); return ok },
	})
	if err != nil {
		return nil, fmt.Errorf("list clients at offset %d: %w", p.Offset, err)
	}
	if ok {
		return salvaged, nil
	}
	page, err := decodeClientsPage(body)
	if err != nil {
		return nil, fmt.Errorf("list clients at offset %d: %w", p.Offset, err)
	}
	return page, nil
}

// SharedNumbers fetches the channels a client shares with the partner
// (GET /api/v2/partners/{partner_id}/clients/{client_id}/shared_client_numbers).
// It is retried on transient failures. Records that do not decode are
// returned as BadRecords beside the good channels. A channel without a
// status is returned with Status nil; a channel without client_id gets
// clientID.
func (c *Client) SharedNumbers(ctx context.Context, clientID string) ([]Channel, []BadRecord, error) {
	return c.SharedNumbersExcept(ctx, clientID, nil)
}

// SharedNumbersExcept is SharedNumbers for a caller that holds some of the
// channels already: known is given each record of a well-formed answer as
// its compacted bytes (what Channel.Raw would hold), before it is decoded,
// and a record it reports as known is left out of the result undecoded.
// Decoding is most of what a fetch costs the client, and a re-sync holds
// almost every record already. A nil known is SharedNumbers.
func (c *Client) SharedNumbersExcept(ctx context.Context, clientID string, known func(raw json.RawMessage) bool) ([]Channel, []BadRecord, error) {
	esc, err := escapeID(clientID)
	if err != nil {
		return nil, nil, fmt.Errorf("shared numbers: %w", err)
	}
	var (
		raws     []json.RawMessage
		salvaged bool
	)
	body, err := c.do(ctx, call{
		endpoint:   EndpointSharedNumbers,
		method:     http.MethodGet,
		path:       c.partnerPath() + "/clients/" + esc + "/shared_client_numbers",
		idempotent: true,
		salvage:    func(b []byte) bool { raws, salvaged = salvageArrayBody(b); return salvaged }, // as in ListClients
	})
	if err != nil {
		return nil, nil, fmt.Errorf("shared numbers of client %s: %w", clientID, err)
	}
	if !salvaged {
		if raws = splitArray(body); raws == nil {
			if isNull(body) {
				return nil, nil, nil
			}
			err := json.Unmarshal(body, &raws) // says what it is instead
			return nil, nil, fmt.Errorf("shared numbers of client %s: answer is not an array: %w", clientID, err)
		}
	}
	// at is where each record left to decode stands in the answer, once
	// known has left some out. compact assumes valid JSON: a salvaged
	// answer is decoded whole.
	var at []int
	if known != nil && !salvaged {
		kept := raws[:0]
		for i, raw := range raws {
			if raw = compact(raw); !known(raw) {
				kept, at = append(kept, raw), append(at, i)
			}
		}
		raws = kept
	}
	chans, bad := decodeRecords(raws, decodeChannel, func(ch *Channel) string { return ch.ID })
	if at != nil {
		for i := range bad {
			bad[i].Index = at[bad[i].Index]
		}
	}
	for i := range chans {
		if chans[i].ClientID == "" {
			chans[i].ClientID = clientID
		}
	}
	return chans, bad, nil
}

// ClientUpdate is the body of UpdateClient; nil fields are left unchanged.
type ClientUpdate struct {
	// PartnerPayload sets the partner's free-text field ("" clears it).
	PartnerPayload *string `json:"partner_payload,omitempty"`
	// MaxChannels sets how many channels the client may have.
	MaxChannels *int64 `json:"max_channels,omitempty"`
}

// UpdateClient changes a client's settings
// (PATCH /api/v2/partners/{partner_id}/clients/{client_id}) and returns the
// client as the server has it afterwards.
//
// Retry rule: a PATCH is retried only when it surely did not reach the
// server or was refused unprocessed: when no connection could be made
// (dial or DNS errors, connection refused) and on 429. Once a connection
// was obtained, a timeout, a reset, a truncated answer or a 5xx is not
// retried: the error then wraps ErrOutcomeUnknown, and the caller should
// read the client back.
func (c *Client) UpdateClient(ctx context.Context, clientID string, u ClientUpdate) (*PartnerClient, error) {
	esc, err := escapeID(clientID)
	if err != nil {
		return nil, fmt.Errorf("update client: %w", err)
	}
	if u.PartnerPayload == nil && u.MaxChannels == nil {
		return nil, fmt.Errorf("update client %s: nothing to update", clientID)
	}
	reqBody, err := json.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("update client %s: encode body: %w", clientID, err)
	}
	body, err := c.do(ctx, call{
		endpoint: EndpointUpdateClient,
		method:   http.MethodPatch,
		path:     c.partnerPath() + "/clients/" + esc,
		body:     reqBody,
	})
	if err != nil {
		return nil, fmt.Errorf("update client %s: %w", clientID, err)
	}
	var pc PartnerClient
	if err := json.Unmarshal(body, &pc); err != nil {
		return nil, fmt.Errorf("update client %s: decode answer (%s): %w", clientID, snippet(body, maxBodySnippet), err)
	}
	if pc.ID == "" {
		return nil, fmt.Errorf("update client %s: answer: %w", clientID, ErrMissingID)
	}
	return &pc, nil
}

func (c *Client) partnerPath() string {
	return "/api/v2/partners/" + url.PathEscape(c.partnerID)
}

// escapeID path-escapes an id, refusing those that would change the path.
func escapeID(id string) (string, error) {
	if id == "" || id == "." || id == ".." {
		return "", fmt.Errorf("invalid client id %q", id)
	}
	return url.PathEscape(id), nil
}

func isNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

// pageEnvelope is PartnerClientsPublicOut with each field kept raw, so that
// one field of an unexpected type spoils only itself.
type pageEnvelope struct {
	Limit   json.RawMessage   `json:"limit"`
	Offset  json.RawMessage   `json:"offset"`
	Total   json.RawMessage   `json:"total"`
	Count   json.RawMessage   `json:"count"`
	Sort    json.RawMessage   `json:"sort"`
	Filters json.RawMessage   `json:"filters"`
	Clients []json.RawMessage `json:"clients"`
}

func decodeClientsPage(body []byte) (*ClientsPage, error) {
	var env pageEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("decode page: %w", err)
	}
	if env.Clients == nil {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(body, &probe); err == nil {
			if _, ok := probe["clients"]; !ok {
				return nil, errors.New("decode page: no clients array in answer")
			}
		}
	}
	page := &ClientsPage{}
	page.Limit, _ = looseInt(env.Limit)
	page.Offset, _ = looseInt(env.Offset)
	page.Total, page.TotalKnown = looseInt(env.Total)
	var ok bool
	if page.Count, ok = looseInt(env.Count); !ok {
		page.Count = len(env.Clients)
	}
	if len(env.Sort) > 0 {
		var list []string
		var one string
		if json.Unmarshal(env.Sort, &list) == nil {
			page.Sort = list
		} else if json.Unmarshal(env.Sort, &one) == nil && one != "" {
			page.Sort = []string{one}
		}
	}
	if len(env.Filters) > 0 {
		_ = json.Unmarshal(env.Filters, &page.Filters) // echo only; a wrong shape is not worth failing for
	}
	page.Clients, page.Bad = decodeRecords(env.Clients, decodeClient, func(pc *PartnerClient) string { return pc.ID })
	return page, nil
}

// splitArray returns the elements of the JSON array body, which do has
// checked to be valid JSON, as slices of it: one pass that follows strings and nesting
// only, where json.Unmarshal into []json.RawMessage would check it all
// again. It returns nil when body is not an array, and an empty slice for
// an empty one.
func splitArray(body []byte) []json.RawMessage {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '[' {
		return nil
	}
	elems := []json.RawMessage{}
	depth, start := 0, -1
	for i++; i < len(body); i++ {
		c := body[i]
		if start < 0 && !isSpace(c) && (depth > 0 || (c != ',' && c != ']')) {
			start = i // an element begins
		}
		switch {
		case c == '"':
			i = stringEnd(body, i)
		case c == '{' || c == '[':
			depth++
		case depth > 0 && (c == '}' || c == ']'):
			depth--
		case depth == 0 && (c == ',' || c == ']'):
			if start >= 0 {
				elems = append(elems, bytes.TrimRight(body[start:i], " \t\r\n"))
				start = -1
			}
			if c == ']' {
				return elems
			}
		}
	}
	return nil
}

// decodeRecords decodes each raw record on its own; the ones that fail, or
// have no id, become BadRecords.
func decodeRecords[T any](raws []json.RawMessage, decode func([]byte, *T) error, id func(*T) string) ([]T, []BadRecord) {
	good := make([]T, 0, len(raws))
	var bad []BadRecord
	for i, raw := range raws {
		var v T
		err := decode(raw, &v)
		var syntaxErr *json.SyntaxError
		switch {
		case isNull(raw):
			err = errors.New("null record")
		case errors.As(err, &syntaxErr):
			err = fmt.Errorf("%w: %v", errMalformedRecord, err)
		case err != nil:
		case id(&v) == "":
			err = ErrMissingID
		}
		if err != nil {
			bad = append(bad, BadRecord{Index: i, ID: extractID(raw), Snippet: snippet(raw, maxBodySnippet), Err: err})
			continue
		}
		good = append(good, v)
	}
	return good, bad
}

// looseInt reads a JSON number (or numeric string) as an int; false when
// absent, null or not an integer.
func looseInt(raw json.RawMessage) (int, bool) {
	s := looseString(raw)
	if s == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int(f)) {
		return int(f), true
	}
	return 0, false
}
