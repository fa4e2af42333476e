package hubapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
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
	// Limit, Offset and Total are as the server sent them (0 when absent or
	// not an integer).
	Limit, Offset, Total int
	// TotalKnown tells whether the server sent an integer total.
	TotalKnown bool
	// Records are the page's client objects, each exactly as received, in
	// page order. Nothing about them is checked but that they are JSON
	// values: what to decode is the caller's decision.
	Records []jsontext.Value
}

// decodeOptions read what a server may send: invalid UTF-8 and duplicate
// member names are the records' problem, not the answer's.
var decodeOptions = json.JoinOptions(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))

// ListClients fetches one page of the partner's clients
// (GET /api/v2/partners/{partner_id}/clients). It is retried on transient
// failures, a truncated or malformed answer included.
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
	var page *ClientsPage
	err := c.do(ctx, call{
		endpoint:   EndpointListClients,
		method:     http.MethodGet,
		path:       c.partnerPath() + "/clients",
		query:      q,
		idempotent: true,
		parse: func(body []byte) (err error) {
			page, err = parseClientsPage(body)
			return err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("list clients at offset %d: %w", p.Offset, err)
	}
	return page, nil
}

// SharedNumbers fetches the channels a client shares with the partner
// (GET /api/v2/partners/{partner_id}/clients/{client_id}/shared_client_numbers),
// each exactly as received. It is retried on transient failures. A null
// answer is no channels.
func (c *Client) SharedNumbers(ctx context.Context, clientID string) ([]jsontext.Value, error) {
	esc, err := escapeID(clientID)
	if err != nil {
		return nil, fmt.Errorf("shared numbers: %w", err)
	}
	var recs []jsontext.Value
	err = c.do(ctx, call{
		endpoint:   EndpointSharedNumbers,
		method:     http.MethodGet,
		path:       c.partnerPath() + "/clients/" + esc + "/shared_client_numbers",
		idempotent: true,
		parse: func(body []byte) (err error) {
			recs, err = parseArray(body)
			return err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("shared numbers of client %s: %w", clientID, err)
	}
	return recs, nil
}

// ClientUpdate is the body of UpdateClient; nil fields are left unchanged.
type ClientUpdate struct {
	// PartnerPayload sets the partner's free-text field ("" clears it).
	PartnerPayload *string `json:"partner_payload,omitzero"`
	// MaxChannels sets how many channels the client may have.
	MaxChannels *int64 `json:"max_channels,omitzero"`
}

// UpdateClient changes a client's settings
// (PATCH /api/v2/partners/{partner_id}/clients/{client_id}) and returns the
// client object as the server has it afterwards, exactly as received.
//
// Retry rule: a PATCH is retried only when it surely did not reach the
// server or was refused unprocessed: when no connection could be made
// (dial or DNS errors, connection refused) and on 429. Once a connection
// was obtained, a timeout, a reset, a truncated answer or a 5xx is not
// retried: the error then wraps ErrOutcomeUnknown, and the caller should
// read the client back.
func (c *Client) UpdateClient(ctx context.Context, clientID string, u ClientUpdate) (jsontext.Value, error) {
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
	var rec jsontext.Value
	err = c.do(ctx, call{
		endpoint: EndpointUpdateClient,
		method:   http.MethodPatch,
		path:     c.partnerPath() + "/clients/" + esc,
		body:     reqBody,
		parse: func(body []byte) error {
			v := jsontext.Value(bytes.TrimSpace(body))
			if v.Kind() != '{' {
				return fmt.Errorf("answer is not an object: %s", snippet(body, 80))
			}
			rec = v
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("update client %s: %w", clientID, err)
	}
	return rec, nil
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

// parseClientsPage reads PartnerClientsPublicOut: the paging fields and the
// clients array, whose elements are kept as received.
func parseClientsPage(body []byte) (*ClientsPage, error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(body), decodeOptions)
	if tok, err := dec.ReadToken(); err != nil {
		return nil, fmt.Errorf("decode page: %w", err)
	} else if tok.Kind() != '{' {
		return nil, fmt.Errorf("decode page: answer is a JSON %s, not an object", kindName(tok.Kind()))
	}
	page := &ClientsPage{}
	found := false
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, fmt.Errorf("decode page: %w", err)
		}
		name := tok.String()
		switch name {
		case "clients":
			if dec.PeekKind() == 'n' {
				_, err = dec.ReadToken()
			} else {
				page.Records, err = readArray(dec)
			}
			found = true
		case "total", "limit", "offset":
			var v jsontext.Value
			if v, err = dec.ReadValue(); err == nil {
				n, ok := looseInt(v)
				switch name {
				case "total":
					page.Total, page.TotalKnown = n, ok
				case "limit":
					page.Limit = n
				case "offset":
					page.Offset = n
				}
			}
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return nil, fmt.Errorf("decode page: %w", err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, fmt.Errorf("decode page: %w", err)
	}
	if !found {
		return nil, errors.New("decode page: no clients array in answer")
	}
	return page, nil
}

// parseArray reads an answer that is an array of records (or null).
func parseArray(body []byte) ([]jsontext.Value, error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(body), decodeOptions)
	if dec.PeekKind() == 'n' {
		_, err := dec.ReadToken()
		return nil, err
	}
	recs, err := readArray(dec)
	if err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	if _, err := dec.ReadToken(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("answer: %w", err)
	}
	return recs, nil
}

// readArray reads the array that comes next in dec, each element as
// received. A decoder over a bytes.Buffer reads it in place, so the
// elements are slices of the answer's body, which nothing else holds.
func readArray(dec *jsontext.Decoder) ([]jsontext.Value, error) {
	if k := dec.PeekKind(); k != '[' {
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("a JSON %s where an array belongs", kindName(k))
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	recs := []jsontext.Value{}
	for dec.PeekKind() != ']' {
		v, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		recs = append(recs, v)
	}
	_, err := dec.ReadToken()
	return recs, err
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "value"
}

// looseInt reads a JSON integer (or numeric string) as an int; false when
// absent, null or not an integer.
func looseInt(v jsontext.Value) (int, bool) {
	s := strings.Trim(string(bytes.TrimSpace(v)), `"`)
	if n, err := strconv.Atoi(s); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int(f)) {
		return int(f), true
	}
	return 0, false
}
