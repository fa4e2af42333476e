package syncer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/hubsync/hubsync/sync/hubapi"
)

// Size limits on the values that end up in a btree index (ids, tracked
// attributes, which hub.status_history indexes). Postgres refuses index rows
// above about 2.7 kB, and one such value would fail the whole page's
// transaction; real ids and enum values are a few dozen bytes.
const (
	maxKeyBytes   = 256
	maxValueBytes = 256
)

// usableID reports whether id can key a row: "" (absent) can't, nor can one
// too long for an index.
func usableID(id string) bool { return id != "" && len(id) <= maxKeyBytes }

// checkClient says why a decoded client cannot be written, or "". A null in
// a field the spec does not mark nullable is stored as NULL and logged once
// per field and run; a client without a status is refused, as a NULL status
// would read as "removed" in the history.
func (r *run) checkClient(c *hubapi.PartnerClient) string {
	r.noteNulls("client", c.ID, c.Raw, clientNotNullable, &r.clientNulls)
	switch {
	case c.Status == nil:
		return "client without a status"
	case len(*c.Status) > maxValueBytes:
		return fmt.Sprintf("status longer than %d bytes", maxValueBytes)
	}
	return ""
}

// checkChannel is checkClient for a channel.
func (r *run) checkChannel(ch *hubapi.Channel) string {
	r.noteNulls("channel", ch.ID, ch.Raw, channelNotNullable, &r.channelNulls)
	if ch.Status == nil {
		return "channel without a status"
	}
	for _, v := range []struct {
		name string
		v    *string
	}{{"status", ch.Status}, {"availability_status", ch.AvailabilityStatus},
		{"current_limit", ch.CurrentLimit}, {"current_quality_rating", ch.CurrentQualityRating}} {
		if v.v != nil && len(*v.v) > maxValueBytes {
			return fmt.Sprintf("%s longer than %d bytes", v.name, maxValueBytes)
		}
	}
	return ""
}

// The top-level fields the spec (ClientPayloadOut, ChannelPublicPayloadOut)
// does not mark nullable.
var (
	clientNotNullable = []string{"id", "name", "status", "organisation", "partner_payload", "max_channels",
		"created_at", "modified_at", "created_by", "modified_by", "meta_info", "contact_info",
		"contact_user", "suspicious", "enabled_for_chat_support"}
	channelNotNullable = []string{"id", "client_id", "status", "availability_status", "hub_status",
		"current_limit", "current_quality_rating", "created_at", "is_oba", "settings", "setup_info",
		"account_mode", "is_migrated", "version"}
)

// nullValue is how a null member looks in compact JSON, after its key.
var nullValue = []byte(`":null`)

// nullFields reports which of fields, bar those whose bit is set in skip,
// raw gives the value null at its top level, as a bit per field. It makes one
// pass over raw and decodes nothing: it looks for "field":null (raw is
// compact, as hubapi keeps it) and checks that the key is a member of the
// top-level object. Every record goes through here, and decoding each one
// into a map cost the sync a fifth of its CPU time (the simulator, like the
// API, sends many nullable nulls).
func nullFields(raw []byte, fields []string, skip uint32) uint32 {
	var found uint32
	for off := 0; ; {
		i := bytes.Index(raw[off:], nullValue)
		if i < 0 {
			return found
		}
		end := off + i // the key's closing quote
		off = end + len(nullValue)
		start := bytes.LastIndexByte(raw[:end], '"')
		if start < 0 {
			continue
		}
		for k, f := range fields {
			if bit := uint32(1) << k; skip&bit == 0 && found&bit == 0 && string(raw[start+1:end]) == f {
				if topLevelAt(raw, start) {
					found |= bit
				}
				break
			}
		}
	}
}

// topLevelAt reports whether byte i of the JSON object raw is outside any
// string and directly inside the outermost object.
func topLevelAt(raw []byte, i int) bool {
	depth, inString := 0, false
	for k := 0; k < i; k++ {
		switch c := raw[k]; {
		case inString && c == '\\':
			k++
		case inString:
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	return depth == 1 && !inString
}

// noteNulls logs, once per field and run, a null where the spec promises a
// value: the record is still stored (the column is NULL), but someone should
// know the API broke its word. Bit i of logged is set once notNullable[i]
// was logged; a field logged already is not looked for again.
func (r *run) noteNulls(entity, id string, raw json.RawMessage, notNullable []string, logged *atomic.Uint32) {
	found := nullFields(raw, notNullable, logged.Load())
	for k, f := range notNullable {
		if bit := uint32(1) << k; found&bit != 0 && logged.Or(bit)&bit == 0 {
			r.log.Warn("null in a field the API spec does not mark nullable: stored as NULL (logged once per field and run)",
				"entity", entity, "id", truncate(id, 80), "field", f)
		}
	}
}
