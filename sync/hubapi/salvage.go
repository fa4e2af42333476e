package hubapi

import (
	"bytes"
	"encoding/json"
	"errors"
)

// A well-framed answer (its body arrived whole) may still not be valid JSON
// when one record in it is broken: an unescaped quote, a stray comma, a
// string cut short by the server. Rejecting the whole page would lose its
// good records and, since the server answers the same way every time, fail
// every run. So list and shared-numbers answers are salvaged: the array of
// records is split into elements, each decoded on its own, and a broken one
// becomes a BadRecord while the decoder resynchronises on the next element
// that starts a record. A body whose frame (the envelope, the array's end)
// cannot be found is not salvaged: it is retried as a damaged answer.

// errMalformedRecord is the Err of a BadRecord that is not valid JSON.
var errMalformedRecord = errors.New("malformed JSON")

// salvageArray splits the JSON array starting at b[start] ('[') into its
// elements, tolerating malformed ones. A malformed element extends to the
// next point where an element that decodes as an object with an "id"
// follows a comma, or to the array's end. isEnd reports whether a ']' at i
// can close the array (the rest of the document being well formed). It
// returns the elements and the index just after the closing ']'.
func salvageArray(b []byte, start int, isEnd func(i int) bool) (elems []json.RawMessage, end int, ok bool) {
	i := skipSpace(b, start+1)
	if i < len(b) && b[i] == ']' && isEnd(i) {
		return nil, i + 1, true
	}
	for i < len(b) {
		n, good := decodeValue(b[i:])
		if good {
			j := skipSpace(b, i+n)
			if j < len(b) && (b[j] == ',' || (b[j] == ']' && isEnd(j))) {
				elems = append(elems, b[i:i+n])
				if b[j] == ']' {
					return elems, j + 1, true
				}
				i = skipSpace(b, j+1)
				continue
			}
		}
		// Malformed: find where the next element (or the array's end) starts.
		next, closing := resync(b, i+1, isEnd)
		if next < 0 {
			return nil, 0, false
		}
		elems = append(elems, bytes.TrimRight(b[i:next], " \t\r\n,"))
		if closing {
			return elems, next + 1, true
		}
		i = skipSpace(b, next+1) // past the comma
	}
	return nil, 0, false
}

// resync finds, from i on, the first comma followed by a record (an object
// with an "id" that decodes and is followed by ',' or ']'), or the first ']'
// that closes the array. It returns its index and whether it is the ']'; -1
// when there is neither.
func resync(b []byte, i int, isEnd func(int) bool) (int, bool) {
	for ; i < len(b); i++ {
		switch b[i] {
		case ']':
			if isEnd(i) {
				return i, true
			}
		case ',':
			j := skipSpace(b, i+1)
			if j >= len(b) || b[j] != '{' {
				continue
			}
			n, good := decodeValue(b[j:])
			if !good {
				continue
			}
			k := skipSpace(b, j+n)
			if k >= len(b) || (b[k] != ',' && b[k] != ']') {
				continue
			}
			if extractID(b[j:j+n]) != "" {
				return i, false
			}
		}
	}
	return -1, false
}

// decodeValue reports the length of the JSON value at the start of b, and
// whether there is a valid one.
func decodeValue(b []byte) (int, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return 0, false
	}
	return int(dec.InputOffset()), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// salvageClientsPage decodes a list answer that is not valid JSON, if only
// records inside its clients array are broken.
func salvageClientsPage(body []byte) (*ClientsPage, bool) {
	at := clientsArrayStart(body)
	if at < 0 {
		return nil, false
	}
	// The envelope with an empty array must be valid JSON.
	envelopeWith := func(end int) []byte {
		out := make([]byte, 0, at+2+len(body)-end)
		out = append(out, body[:at]...)
		out = append(out, "[]"...)
		return append(out, body[end:]...)
	}
	isEnd := func(i int) bool { return json.Valid(envelopeWith(i + 1)) }
	elems, end, ok := salvageArray(body, at, isEnd)
	if !ok {
		return nil, false
	}
	page, err := decodeClientsPage(envelopeWith(end))
	if err != nil {
		return nil, false
	}
	page.Clients, page.Bad = decodeRecords(elems, decodeClient, func(pc *PartnerClient) string { return pc.ID })
	return page, true
}

// clientsArrayStart finds the '[' of the top-level "clients" array by
// reading the envelope's tokens; -1 if it can't.
func clientsArrayStart(body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return -1
	}
	for {
		t, err := dec.Token()
		if err != nil {
			return -1
		}
		key, ok := t.(string)
		if !ok {
			return -1
		}
		if key == "clients" {
			i := skipSpace(body, int(dec.InputOffset()))
			if i < len(body) && body[i] == ':' {
				i = skipSpace(body, i+1)
			}
			if i < len(body) && body[i] == '[' {
				return i
			}
			return -1
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return -1
		}
	}
}

// salvageArrayBody decodes a shared-numbers answer (a bare array) that is
// not valid JSON, if only records inside it are broken.
func salvageArrayBody(body []byte) ([]json.RawMessage, bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '[' {
		return nil, false
	}
	isEnd := func(j int) bool { return skipSpace(body, j+1) == len(body) }
	elems, _, ok := salvageArray(body, i, isEnd)
	return elems, ok
}

// extractID digs the top-level id out of a record, even one that fails to
// decode further on: it reads tokens until the id or the first error. It
// returns "" when the record has no id that is a well-formed string.
func extractID(raw json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		key, ok := t.(string)
		if !ok {
			return ""
		}
		if key == "id" {
			v, err := dec.Token()
			if s, ok := v.(string); err == nil && ok {
				return s
			}
			return ""
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
}
