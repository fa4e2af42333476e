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

// mayHoldNull reports whether raw may give one of fields, bar those whose
// bit is set in skip, the value null, in one pass over it and without
// decoding: it looks for "field":null (raw is compact, as hubapi keeps it). A
// yes may be a nested member of that name, which the caller's decode rules
// out; a no is sure. Every record goes through here, and decoding each one
// into a map cost the sync a fifth of its CPU time (the simulator, like the
// API, sends many nullable nulls).
func mayHoldNull(raw []byte, fields []string, skip uint32) bool {
	for rest := raw; ; {
		i := bytes.Index(rest, nullValue)
		if i < 0 {
			return false
		}
		key := rest[:i]
		if j := bytes.LastIndexByte(key, '"'); j >= 0 {
			for k, f := range fields {
				if skip&(1<<k) == 0 && string(key[j+1:]) == f {
					return true
				}
			}
		}
		rest = rest[i+len(nullValue):]
	}
}

// noteNulls logs, once per field and run, a null where the spec promises a
// value: the record is still stored (the column is NULL), but someone should
// know the API broke its word. Bit i of logged is set once notNullable[i]
// was logged; a field logged already is not looked for again.
func (r *run) noteNulls(entity, id string, raw json.RawMessage, notNullable []string, logged *atomic.Uint32) {
	if !mayHoldNull(raw, notNullable, logged.Load()) {
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return
	}
	for k, f := range notNullable {
		if v, ok := m[f]; !ok || string(v) != "null" {
			continue
		}
		if bit := uint32(1) << k; logged.Or(bit)&bit == 0 {
			r.log.Warn("null in a field the API spec does not mark nullable: stored as NULL (logged once per field and run)",
				"entity", entity, "id", truncate(id, 80), "field", f)
		}
	}
}
