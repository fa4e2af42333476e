package syncer

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hubsync/hubsync/db"
	"github.com/hubsync/hubsync/sync/hubapi"
)

// maxKeyBytes bounds ids and tracked values, which end up in btree indexes:
// Postgres refuses index rows above about 2.7 kB, and real ids and enum
// values are a few dozen bytes.
const maxKeyBytes = 256

// readOptions decode what an API may send: invalid UTF-8 and lone surrogates
// become U+FFFD, and of duplicate names the last wins (as in jsonb).
var readOptions = json.JoinOptions(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))

// record is one object the API sent, read leniently: a member of the wrong
// type, out of range or too long for its column gives NULL and is counted
// (madeSafe), the object itself is kept whole in raw.
type record struct {
	raw jsontext.Value
	// keys are the members a record must have; the others are read only
	// when the record is stored (members, on first use).
	keys struct {
		ID     jsontext.Value `json:"id"`
		Status jsontext.Value `json:"status"`
	}
	members  map[string]jsontext.Value
	nested   map[string]map[string]jsontext.Value
	madeSafe []string  // the members made safe, by path
	badTimes []badTime // timestamps that did not parse
	nulls    []string  // members the spec does not allow to be null but were
}

// badTime is a timestamp member that did not parse, and its value.
type badTime struct{ path, value string }

// errBadRecord says why a record cannot be stored at all.
type errBadRecord struct{ why string }

func (e errBadRecord) Error() string { return e.why }

// readRecord reads raw as an object with a usable id and status. Any other
// JSON value, or one without them, is a bad record: it has nothing to key a
// row on, or a NULL status would read as a removal in the history. The id
// is returned when it is usable, even when the record is bad.
func readRecord(raw jsontext.Value) (*record, string, error) {
	r := &record{raw: raw}
	if raw.Kind() != '{' {
		return nil, "", errBadRecord{"not a JSON object"}
	}
	if err := json.Unmarshal(raw, &r.keys, readOptions); err != nil {
		return nil, "", errBadRecord{fmt.Sprintf("unreadable object: %v", err)}
	}
	id, why := key("id", r.keys.ID, false)
	if why != "" {
		return nil, "", errBadRecord{why}
	}
	if _, why := key("status", r.keys.Status, true); why != "" {
		return r, id, errBadRecord{why}
	}
	return r, id, nil
}

// all returns the record's members, read on first use.
func (r *record) all() map[string]jsontext.Value {
	if r.members == nil {
		// The record was read once already with the same options.
		r.members, _ = readMembers(r.raw)
	}
	return r.members
}

// readMembers reads the members of the object v; each value is a slice of
// v. Of duplicate names the last wins, as in jsonb.
func readMembers(v jsontext.Value) (map[string]jsontext.Value, error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(v), readOptions) // a bytes.Buffer is read in place
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, fmt.Errorf("not an object: %w", err)
	}
	m := make(map[string]jsontext.Value, 32)
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		k := name.String()
		val, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		m[k] = val
	}
	return m, nil
}

// str reads a JSON string value. Most have no escapes and are valid
// UTF-8: their bytes are the string.
func str(v jsontext.Value) (string, bool) {
	if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
		return string(v[1 : len(v)-1]), true
	}
	var s string
	return s, v.Kind() == '"' && json.Unmarshal(v, &s, readOptions) == nil
}

// RecordProblem says why a sync would count the record raw (one element of
// a list page or of a shared-numbers answer) as bad and skip it, or "" when
// it would store it.
func RecordProblem(raw []byte) string {
	if _, _, err := readRecord(raw); err != nil {
		return err.Error()
	}
	return ""
}

// key reads the member name, v, which must be a string of at most
// maxKeyBytes, and not empty unless empty is allowed; why says what is
// wrong with it otherwise (nil v: absent).
func key(name string, v jsontext.Value, empty bool) (s, why string) {
	switch {
	case v == nil:
		return "", "no " + name
	case v.Kind() == 'n':
		return "", name + " is null"
	case v.Kind() != '"':
		return "", name + " is not a string"
	}
	s, ok := str(v)
	switch {
	case !ok:
		return "", name + " is not a readable string"
	case s == "" && !empty:
		return "", "empty " + name
	case len(s) > maxKeyBytes:
		return "", fmt.Sprintf("%s longer than %d bytes", name, maxKeyBytes)
	}
	return safeText(s), ""
}

// member returns the value at a dotted path ("settings.throughput.level"),
// if any; a parent of the wrong type counts as made safe.
func (r *record) member(path string) (jsontext.Value, bool) {
	obj := r.all()
	for start := 0; ; {
		dot := strings.IndexByte(path[start:], '.')
		if dot < 0 {
			v, ok := obj[path[start:]]
			return v, ok
		}
		prefix := path[:start+dot]
		child, seen := r.nested[prefix]
		if !seen {
			if v, ok := obj[path[start:start+dot]]; ok && v.Kind() != 'n' {
				var err error
				if v.Kind() != '{' {
					r.madeSafe = append(r.madeSafe, prefix)
				} else if child, err = readMembers(v); err != nil {
					r.madeSafe = append(r.madeSafe, prefix)
				}
			}
			if r.nested == nil {
				r.nested = map[string]map[string]jsontext.Value{}
			}
			r.nested[prefix] = child
		}
		obj, start = child, start+dot+1
	}
}

// value returns the member at path unless it is absent or null, noting a
// null where the spec promises a value.
func (r *record) value(path string, nullable bool) (jsontext.Value, bool) {
	v, ok := r.member(path)
	if !ok {
		return nil, false
	}
	if v.Kind() == 'n' {
		if !nullable {
			r.nulls = append(r.nulls, path)
		}
		return nil, false
	}
	return v, true
}

// text reads a string member. limit, when not 0, is the longest value the
// column takes (tracked attributes, which are indexed).
func (r *record) text(path string, nullable bool, limit int) pgtype.Text {
	v, ok := r.value(path, nullable)
	if !ok {
		return pgtype.Text{}
	}
	s, ok := str(v)
	if !ok || (limit > 0 && len(s) > limit) {
		r.madeSafe = append(r.madeSafe, path)
		return pgtype.Text{}
	}
	if t := safeText(s); t != s || !utf8.Valid(v) {
		r.madeSafe = append(r.madeSafe, path)
		s = t
	}
	return pgtype.Text{String: s, Valid: true}
}

// int8 reads an integer member that fits in 64 bits.
func (r *record) int8(path string, nullable bool) pgtype.Int8 {
	v, ok := r.value(path, nullable)
	if !ok {
		return pgtype.Int8{}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if v.Kind() != '0' || err != nil {
		r.madeSafe = append(r.madeSafe, path)
		return pgtype.Int8{}
	}
	return pgtype.Int8{Int64: n, Valid: true}
}

// bool reads a boolean member.
func (r *record) bool(path string, nullable bool) pgtype.Bool {
	v, ok := r.value(path, nullable)
	if !ok {
		return pgtype.Bool{}
	}
	switch v.Kind() {
	case 't':
		return pgtype.Bool{Bool: true, Valid: true}
	case 'f':
		return pgtype.Bool{Valid: true}
	}
	r.madeSafe = append(r.madeSafe, path)
	return pgtype.Bool{}
}

// time reads a timestamp member (see hubapi.ParseTime); one that does not
// parse is NULL, and noted apart from the members of the wrong type.
func (r *record) time(path string, nullable bool) pgtype.Timestamptz {
	v, ok := r.value(path, nullable)
	if !ok {
		return pgtype.Timestamptz{}
	}
	s, ok := str(v)
	if !ok {
		r.madeSafe = append(r.madeSafe, path)
		return pgtype.Timestamptz{}
	}
	if s == "" {
		return pgtype.Timestamptz{}
	}
	t, ok := hubapi.ParseTime(s)
	if !ok {
		r.badTimes = append(r.badTimes, badTime{path, s})
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// json reads a member stored as jsonb, made safe for it.
func (r *record) json(path string, nullable bool) []byte {
	v, ok := r.value(path, nullable)
	if !ok {
		return nil
	}
	safe, changed := safeJSON(v)
	if changed {
		r.madeSafe = append(r.madeSafe, path)
	}
	return safe
}

// rawColumns are the raw, raw_original and content_hash columns of a record:
// the object as jsonb takes it, the exact bytes when that is not the object
// as sent, and the hash of the bytes as sent.
func (r *record) rawColumns() (raw, original, hash []byte) {
	safe, changed := safeJSON(r.raw)
	if changed {
		original = r.raw
	}
	return safe, original, contentHash(r.raw)
}

// contentHash is what a row's content_hash holds: the SHA-256 of the
// object's bytes as received. Equal hashes mean nothing to write.
func contentHash(raw []byte) []byte {
	h := sha256.Sum256(raw)
	return h[:]
}

// safeText replaces what a Postgres text value cannot hold: U+0000 and
// invalid UTF-8 become U+FFFD.
func safeText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// safeJSON returns v as jsonb takes it, and whether that differs from v as
// sent: jsonb refuses U+0000, lone surrogates and invalid UTF-8, and keeps
// only the last of duplicate names. Such a value is re-encoded with those
// characters replaced by U+FFFD (the duplicates stay; jsonb keeps the last).
func safeJSON(v jsontext.Value) ([]byte, bool) {
	if !bytes.Contains(v, []byte(`\u0000`)) && !hasLoneSurrogate(v) && v.IsValid() {
		return v, false
	}
	var out bytes.Buffer
	dec := jsontext.NewDecoder(bytes.NewReader(v), readOptions)
	enc := jsontext.NewEncoder(&out, jsontext.AllowDuplicateNames(true))
	for {
		tok, err := dec.ReadToken()
		if err == io.EOF {
			break
		}
		if err != nil { // v was read with the same options: cannot happen
			return []byte(`null`), true
		}
		if tok.Kind() == '"' {
			tok = jsontext.String(safeText(tok.String()))
		}
		if err := enc.WriteToken(tok); err != nil {
			return []byte(`null`), true
		}
	}
	return bytes.TrimSpace(out.Bytes()), true
}

// hasLoneSurrogate reports whether v holds a \uD800-\uDFFF escape that is not
// half of a pair.
func hasLoneSurrogate(v []byte) bool {
	highPending := false
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i+1 >= len(v) {
			highPending = false
			continue
		}
		if v[i+1] != 'u' || i+6 > len(v) {
			i++ // an escaped character, perhaps a backslash
			highPending = false
			continue
		}
		n, err := strconv.ParseUint(string(v[i+2:i+6]), 16, 16)
		switch {
		case err != nil:
		case n >= 0xD800 && n < 0xDC00:
			if highPending {
				return true
			}
			highPending = true
			i += 5
			continue
		case n >= 0xDC00 && n < 0xE000:
			if !highPending {
				return true
			}
		default:
			if highPending {
				return true
			}
		}
		highPending = false
		i += 5
	}
	return highPending
}

// clientParams maps a client record to its columns. A new column of
// hub.clients is one line here, besides the migration and the queries.
func clientParams(partnerID, id string, r *record) db.ClientStageCopyParams {
	raw, original, hash := r.rawColumns()
	return db.ClientStageCopyParams{
		PartnerID:             partnerID,
		ID:                    id,
		Name:                  r.text("name", false, 0),
		Status:                r.text("status", false, maxKeyBytes),
		PartnerPayload:        r.text("partner_payload", false, 0),
		MaxChannels:           r.int8("max_channels", false),
		FbBusinessID:          r.text("fb_business_id", true, 0),
		Organisation:          r.text("organisation", false, 0),
		ContactEmail:          r.text("contact_info.email", true, 0),
		ContactPhone:          r.text("contact_info.phone", true, 0),
		ContactWebpageUrl:     r.text("contact_info.webpage_url", true, 0),
		ContactLanguage:       r.text("contact_info.language", true, 0),
		ContactCountry:        r.text("contact_info.country", true, 0),
		ContactStreetName:     r.text("contact_info.street_name", true, 0),
		ContactCity:           r.text("contact_info.city", true, 0),
		ContactFullName:       r.text("contact_info.full_name", true, 0),
		ContactZipCode:        r.text("contact_info.zip_code", true, 0),
		ContactUserName:       r.text("contact_user.name", true, 0),
		ContactUserEmail:      r.text("contact_user.email", true, 0),
		ContactUserPhone:      r.text("contact_user.phone", true, 0),
		MetaInfo:              r.json("meta_info", false),
		CreatedBy:             r.json("created_by", false),
		ModifiedBy:            r.json("modified_by", false),
		Suspicious:            r.bool("suspicious", false),
		EnabledForChatSupport: r.bool("enabled_for_chat_support", false),
		CreatedAt:             r.time("created_at", false),
		ModifiedAt:            r.time("modified_at", false),
		Raw:                   raw,
		RawOriginal:           original,
		ContentHash:           hash,
	}
}

// channelParams maps a channel record to its columns; clientID is the
// client it was listed under, its owner when the record names none usable.
func channelParams(partnerID, id, clientID string, r *record) db.ChannelStageCopyParams {
	raw, original, hash := r.rawColumns()
	owner := clientID
	if v, present := r.all()["client_id"]; present && v.Kind() != 'n' {
		if cid, why := key("client_id", v, false); why == "" {
			owner = cid
		} else {
			r.madeSafe = append(r.madeSafe, "client_id")
		}
	}
	return db.ChannelStageCopyParams{
		PartnerID:                      partnerID,
		ID:                             id,
		ClientID:                       owner,
		Status:                         r.text("status", false, maxKeyBytes),
		AvailabilityStatus:             r.text("availability_status", true, maxKeyBytes),
		HubStatus:                      r.text("hub_status", false, 0),
		CurrentLimit:                   r.text("current_limit", false, maxKeyBytes),
		CurrentQualityRating:           r.text("current_quality_rating", false, maxKeyBytes),
		CurrentQualityUpdateEvent:      r.text("current_quality_update_event", true, 0),
		PhoneNumber:                    r.text("setup_info.phone_number", true, 0),
		PhoneName:                      r.text("setup_info.phone_name", true, 0),
		Certificate:                    r.text("setup_info.certificate", true, 0),
		DefaultLanguage:                r.text("setup_info.default_language", true, 0),
		Ivr:                            r.bool("setup_info.ivr", true),
		VerificationMethod:             r.text("setup_info.verification_method", true, 0),
		WasInUse:                       r.bool("setup_info.was_in_use", true),
		IsOba:                          r.bool("is_oba", false),
		SettingsTier:                   r.text("settings.tier", true, 0),
		SettingsDataLocalizationRegion: r.text("settings.data_localization_region", true, 0),
		SettingsAllowedToSendOutbound:  r.bool("settings.is_allowed_to_send_outbound_message", true),
		ThroughputLevel:                r.text("settings.throughput.level", true, 0),
		AccountMode:                    r.text("account_mode", false, 0),
		IsMigrated:                     r.bool("is_migrated", false),
		HasInbox:                       r.bool("has_inbox", true),
		Version:                        r.int8("version", false),
		CreatedAt:                      r.time("created_at", false),
		CancelledAt:                    r.time("cancelled_at", true),
		TerminatedAt:                   r.time("terminated_at", true),
		BillingStartedAt:               r.time("billing_started_at", true),
		Raw:                            raw,
		RawOriginal:                    original,
		ContentHash:                    hash,
	}
}

// channelEnums are the channel members with documented values: their
// attribute name as reported, and the values the spec lists.
var channelEnums = [...]struct {
	attr  string
	known []string
}{
	{"channel.status", hubapi.ChannelStatuses},
	{"channel.availability_status", hubapi.AvailabilityStatuses},
	{"channel.hub_status", hubapi.HubStatuses},
	{"channel.current_limit", hubapi.CurrentLimits},
	{"channel.current_quality_rating", hubapi.QualityRatings},
}

// enumValues are a channel's values of channelEnums, in that order.
type enumValues [len(channelEnums)]pgtype.Text

// rowEnums are the enum values of a channel row about to be written.
func rowEnums(p *db.ChannelStageCopyParams) enumValues {
	return enumValues{p.Status, p.AvailabilityStatus, p.HubStatus, p.CurrentLimit, p.CurrentQualityRating}
}

// readEnums reads only the enum members of a channel record, for one the
// run does not write (it is stored unchanged) but still reports on.
func readEnums(raw jsontext.Value) enumValues {
	var m struct {
		Status               jsontext.Value `json:"status"`
		AvailabilityStatus   jsontext.Value `json:"availability_status"`
		HubStatus            jsontext.Value `json:"hub_status"`
		CurrentLimit         jsontext.Value `json:"current_limit"`
		CurrentQualityRating jsontext.Value `json:"current_quality_rating"`
	}
	var out enumValues
	if json.Unmarshal(raw, &m, readOptions) != nil {
		return out
	}
	for i, v := range [...]jsontext.Value{m.Status, m.AvailabilityStatus, m.HubStatus, m.CurrentLimit, m.CurrentQualityRating} {
		if s, ok := str(v); ok && len(s) <= maxKeyBytes {
			out[i] = pgtype.Text{String: safeText(s), Valid: true}
		}
	}
	return out
}

// onceSet remembers keys, for what a run logs once.
type onceSet struct {
	mu   sync.Mutex
	seen map[string]bool
}

// first reports whether key is new to the set, and adds it.
func (s *onceSet) first(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[key] {
		return false
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[key] = true
	return true
}
