package syncer

import (
	"bytes"
	"encoding/json"
	"fmt"

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
	r.noteNulls("client", c.ID, c.Raw, clientNotNullable)
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
	r.noteNulls("channel", ch.ID, ch.Raw, channelNotNullable)
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

// noteNulls logs, once per field and run, a null where the spec promises a
// value: the record is still stored (the column is NULL), but someone should
// know the API broke its word.
func (r *run) noteNulls(entity, id string, raw json.RawMessage, notNullable []string) {
	if !bytes.Contains(raw, []byte("null")) {
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return
	}
	for _, f := range notNullable {
		if v, ok := m[f]; !ok || string(v) != "null" {
			continue
		}
		key := entity + "." + f
		r.mu.Lock()
		first := !r.nulls[key]
		if r.nulls == nil {
			r.nulls = map[string]bool{}
		}
		r.nulls[key] = true
		r.mu.Unlock()
		if first {
			r.log.Warn("null in a field the API spec does not mark nullable: stored as NULL (logged once per field and run)",
				"entity", entity, "id", truncate(id, 80), "field", f)
		}
	}
}
