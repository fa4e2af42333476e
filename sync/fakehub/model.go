package fakehub

import (
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// optString is a nullable string stored inline (no pointer, no allocation).
type optString struct {
	s  string
	ok bool // false renders JSON null
}

func some(s string) optString { return optString{s: s, ok: true} }

// Timestamp formats. The real API is inconsistent about them, so the data
// mixes them and every object keeps the format it was given.
const (
	fmtZ          uint8 = iota // 2024-03-01T12:00:00Z
	fmtFracZ                   // 2024-03-01T12:00:00.123456Z
	fmtPlus2                   // 2024-03-01T14:00:00+02:00
	fmtNaive                   // 2024-03-01T12:00:00 (UTC, no zone)
	fmtFracMinus5              // 2024-03-01T07:00:00.123-05:00
	fmtNaiveFrac               // 2024-03-01T12:00:00.123456 (UTC, no zone)
	numFormats
)

var (
	zonePlus2  = time.FixedZone("", 2*3600)
	zoneMinus5 = time.FixedZone("", -5*3600)
	// layouts is indexed by format.
	layouts = [numFormats]string{
		"2006-01-02T15:04:05Z",
		"2006-01-02T15:04:05.000000Z",
		"2006-01-02T15:04:05-07:00",
		"2006-01-02T15:04:05",
		"2006-01-02T15:04:05.000-07:00",
		"2006-01-02T15:04:05.000000",
	}
	zones = [numFormats]*time.Location{time.UTC, time.UTC, zonePlus2, time.UTC, zoneMinus5, time.UTC}
)

// stamp is a nullable instant with the format it is rendered in.
type stamp struct {
	us int64 // unix microseconds
	f  uint8
	ok bool // false renders JSON null
}

func at(us int64, f uint8) stamp { return stamp{us: us, f: f, ok: true} }

func (t stamp) appendJSON(b []byte) []byte {
	if !t.ok {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = time.UnixMicro(t.us).In(zones[t.f]).AppendFormat(b, layouts[t.f])
	return append(b, '"')
}

// parseStamp finds the format that renders s exactly, so that a test can set
// a timestamp field to a string and get the same string back.
func parseStamp(s string) (stamp, bool) {
	for f := range numFormats {
		t, err := time.ParseInLocation(layouts[f], s, time.UTC)
		if err != nil {
			continue
		}
		st := at(t.UnixMicro(), f)
		if out := st.appendJSON(nil); string(out[1:len(out)-1]) == s {
			return st, true
		}
	}
	return stamp{}, false
}

// user is an entry of created_by / modified_by.
type user struct {
	id, name string
}

// client is one ClientPayloadOut. Fields mirror the JSON; strings that the
// spec marks nullable are optString.
type client struct {
	id                    string
	name                  string
	status                string
	organisation          optString // ok=false: absent (deprecated field)
	partnerPayload        optString // ok=false: absent
	maxChannels           int
	fbBusinessID          optString
	createdAt, modifiedAt stamp
	createdBy, modifiedBy uint8 // index into users
	suspicious            bool
	chatSupport           bool

	meta struct {
		vertical, timezone, about, description, useCase optString
	}
	contact struct {
		email, webpage, phone, language, country, street, city, fullName, zip optString
	}
	person struct {
		email, phone, name optString
	}

	chans []*channel // in the order they are served

	extra       *extras    // test overrides; nil for almost every client
	hostile     *hostility // hostile mode's rewriting; nil for most
	cache       atomic.Pointer[[]byte]
	rawShared   []byte // verbatim shared-numbers body, if set
	hasRawShare bool
}

// channel is one ChannelPublicPayloadOut.
type channel struct {
	id          string
	owner       *client
	idx         int32 // position in Server.allChans
	seed        uint64
	status      string
	availStatus optString
	hubStatus   string
	limit       string
	quality     string
	qualityEvt  optString
	accountMode string
	version     int
	isOBA       bool
	isMigrated  bool
	hasInbox    int8 // -1 null, 0 false, 1 true
	createdAt   stamp
	cancelledAt stamp
	terminated  stamp
	billingAt   stamp

	tier          optString
	outbound      bool
	region        optString
	throughputNil bool
	throughput    optString

	phoneName    optString
	phoneNumber  optString
	certLen      uint16 // length of the generated certificate; 0 renders null
	language     optString
	ivr          bool
	verification optString
	wasInUse     bool

	extra   *extras
	hostile *hostility
	cache   atomic.Pointer[[]byte]
}

// extras holds what a test set that the typed struct cannot represent: an
// unknown field, a wrong-typed value, a deleted field, or a verbatim body.
type extras struct {
	overrides []override // applied in order over the typed rendering
	raw       []byte     // verbatim JSON served instead of the object
	hasRaw    bool
}

type override struct {
	path  string
	value json.RawMessage // nil: delete
}

// fieldValue is a typed field read for filtering and sorting.
type fieldValue struct {
	null bool
	num  bool
	s    string
	n    int64
}

func compareValues(a, b fieldValue) int {
	switch {
	case a.null && b.null:
		return 0
	case a.null: // nulls sort last ascending, as in Postgres
		return 1
	case b.null:
		return -1
	case a.num && b.num:
		return cmpInt(a.n, b.n)
	default:
		return strings.Compare(a.s, b.s)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// matches reports whether a filter value decoded from JSON equals the field.
func (v fieldValue) matches(want any) bool {
	switch w := want.(type) {
	case nil:
		return v.null
	case string:
		return !v.null && !v.num && v.s == w
	case json.Number:
		n, err := w.Int64()
		return err == nil && !v.null && v.num && v.n == n
	}
	return false
}

func valueOf(o optString) fieldValue    { return fieldValue{null: !o.ok, s: o.s} }
func valueOfString(s string) fieldValue { return fieldValue{s: s} }
func valueOfStamp(t stamp) fieldValue   { return fieldValue{null: !t.ok, num: true, n: t.us} }

// clientField describes one dotted client path: how to read it for filters
// and sorts, and how to set it in the typed struct. A nil set means the field
// is only changed through overrides.
type clientField struct {
	get func(*client) fieldValue
	set func(*client, any) bool
}

func optField(p func(*client) *optString) clientField {
	return clientField{
		get: func(c *client) fieldValue { return valueOf(*p(c)) },
		set: func(c *client, v any) bool { return setOptString(p(c), v) },
	}
}

func strField(p func(*client) *string) clientField {
	return clientField{
		get: func(c *client) fieldValue { return valueOfString(*p(c)) },
		set: func(c *client, v any) bool { return setString(p(c), v) },
	}
}

func stampField(p func(*client) *stamp) clientField {
	return clientField{
		get: func(c *client) fieldValue { return valueOfStamp(*p(c)) },
		set: func(c *client, v any) bool { return setStamp(p(c), v, false) },
	}
}

// clientFields lists every typed client path. The id is read-only here
// because it keys the indexes; setting it changes only the served JSON.
var clientFields = map[string]clientField{
	"id":                             {get: func(c *client) fieldValue { return valueOfString(c.id) }},
	"name":                           strField(func(c *client) *string { return &c.name }),
	"status":                         strField(func(c *client) *string { return &c.status }),
	"organisation":                   {get: func(c *client) fieldValue { return valueOf(c.organisation) }, set: func(c *client, v any) bool { return setPresent(&c.organisation, v) }},
	"partner_payload":                {get: func(c *client) fieldValue { return valueOf(c.partnerPayload) }, set: func(c *client, v any) bool { return setPresent(&c.partnerPayload, v) }},
	"max_channels":                   {get: func(c *client) fieldValue { return fieldValue{num: true, n: int64(c.maxChannels)} }, set: func(c *client, v any) bool { return setInt(&c.maxChannels, v) }},
	"fb_business_id":                 optField(func(c *client) *optString { return &c.fbBusinessID }),
	"created_at":                     stampField(func(c *client) *stamp { return &c.createdAt }),
	"modified_at":                    stampField(func(c *client) *stamp { return &c.modifiedAt }),
	"suspicious":                     {set: func(c *client, v any) bool { return setBool(&c.suspicious, v) }},
	"enabled_for_chat_support":       {set: func(c *client, v any) bool { return setBool(&c.chatSupport, v) }},
	"meta_info.business_vertical":    optField(func(c *client) *optString { return &c.meta.vertical }),
	"meta_info.timezone":             optField(func(c *client) *optString { return &c.meta.timezone }),
	"meta_info.about":                optField(func(c *client) *optString { return &c.meta.about }),
	"meta_info.business_description": optField(func(c *client) *optString { return &c.meta.description }),
	"meta_info.use_case":             optField(func(c *client) *optString { return &c.meta.useCase }),
	"contact_info.email":             optField(func(c *client) *optString { return &c.contact.email }),
	"contact_info.webpage_url":       optField(func(c *client) *optString { return &c.contact.webpage }),
	"contact_info.phone":             optField(func(c *client) *optString { return &c.contact.phone }),
	"contact_info.language":          optField(func(c *client) *optString { return &c.contact.language }),
	"contact_info.country":           optField(func(c *client) *optString { return &c.contact.country }),
	"contact_info.street_name":       optField(func(c *client) *optString { return &c.contact.street }),
	"contact_info.city":              optField(func(c *client) *optString { return &c.contact.city }),
	"contact_info.full_name":         optField(func(c *client) *optString { return &c.contact.fullName }),
	"contact_info.zip_code":          optField(func(c *client) *optString { return &c.contact.zip }),
	"contact_user.email":             optField(func(c *client) *optString { return &c.person.email }),
	"contact_user.phone":             optField(func(c *client) *optString { return &c.person.phone }),
	"contact_user.name":              optField(func(c *client) *optString { return &c.person.name }),
}

// sortFields is the spec's enum for the sort query parameter.
var sortFields = []string{
	"id", "name", "status",
	"meta_info.business_vertical", "meta_info.timezone", "meta_info.about",
	"meta_info.business_description", "meta_info.use_case",
	"contact_info.webpage_url", "contact_info.email", "contact_info.phone",
	"contact_info.language", "contact_info.country", "contact_info.street_name",
	"contact_info.city", "contact_info.zip_code",
	"contact_user.phone", "contact_user.email", "contact_user.name",
	"created_at", "modified_at",
}

// filterFields are the properties of the spec's PartnerClientsListFilterIn.
var filterFields = []string{
	"id", "name", "status",
	"meta_info.business_vertical", "meta_info.timezone", "meta_info.about",
	"meta_info.business_description", "meta_info.use_case",
	"contact_info.webpage_url", "contact_info.phone", "contact_info.language",
	"contact_info.country", "contact_info.street_name", "contact_info.city",
	"contact_info.email", "contact_info.zip_code",
	"contact_user.phone", "contact_user.email", "contact_user.name",
}

// SortFields returns the field names the list endpoint sorts by (each may be
// prefixed with "-" for descending order).
func SortFields() []string { return slices.Clone(sortFields) }

// FilterFields returns the field names the list endpoint filters on.
func FilterFields() []string { return slices.Clone(filterFields) }

// get reads a client path for filtering and sorting, preferring a test
// override of exactly that path.
func (c *client) get(path string) fieldValue {
	if c.extra != nil {
		for i := len(c.extra.overrides) - 1; i >= 0; i-- {
			o := c.extra.overrides[i]
			if o.path != path {
				continue
			}
			if o.value == nil {
				return fieldValue{null: true}
			}
			var v any
			if err := json.Unmarshal(o.value, &v); err == nil {
				switch v := v.(type) {
				case nil:
					return fieldValue{null: true}
				case string:
					return fieldValue{s: v}
				}
			}
			return fieldValue{s: string(o.value)}
		}
	}
	return clientFields[path].get(c)
}

// channelFields lists the typed channel paths a test (or churn) may set.
// Paths not listed here (id, client_id, setup_info.certificate, objects,
// unknown fields) are changed through overrides.
var channelFields = map[string]func(*channel, any) bool{
	"status":                       func(ch *channel, v any) bool { return setString(&ch.status, v) },
	"availability_status":          func(ch *channel, v any) bool { return setOptString(&ch.availStatus, v) },
	"hub_status":                   func(ch *channel, v any) bool { return setString(&ch.hubStatus, v) },
	"current_limit":                func(ch *channel, v any) bool { return setString(&ch.limit, v) },
	"current_quality_rating":       func(ch *channel, v any) bool { return setString(&ch.quality, v) },
	"current_quality_update_event": func(ch *channel, v any) bool { return setOptString(&ch.qualityEvt, v) },
	"account_mode":                 func(ch *channel, v any) bool { return setString(&ch.accountMode, v) },
	"version":                      func(ch *channel, v any) bool { return setInt(&ch.version, v) },
	"is_oba":                       func(ch *channel, v any) bool { return setBool(&ch.isOBA, v) },
	"is_migrated":                  func(ch *channel, v any) bool { return setBool(&ch.isMigrated, v) },
	"has_inbox": func(ch *channel, v any) bool {
		switch v := v.(type) {
		case nil:
			ch.hasInbox = -1
		case bool:
			ch.hasInbox = 0
			if v {
				ch.hasInbox = 1
			}
		default:
			return false
		}
		return true
	},
	"created_at":         func(ch *channel, v any) bool { return setStamp(&ch.createdAt, v, false) },
	"cancelled_at":       func(ch *channel, v any) bool { return setStamp(&ch.cancelledAt, v, true) },
	"terminated_at":      func(ch *channel, v any) bool { return setStamp(&ch.terminated, v, true) },
	"billing_started_at": func(ch *channel, v any) bool { return setStamp(&ch.billingAt, v, true) },
	"settings.tier":      func(ch *channel, v any) bool { return setOptString(&ch.tier, v) },
	"settings.is_allowed_to_send_outbound_message": func(ch *channel, v any) bool { return setBool(&ch.outbound, v) },
	"settings.data_localization_region":            func(ch *channel, v any) bool { return setOptString(&ch.region, v) },
	"settings.throughput": func(ch *channel, v any) bool {
		if v != nil {
			return false
		}
		ch.throughputNil = true
		return true
	},
	"settings.throughput.level": func(ch *channel, v any) bool {
		if !setOptString(&ch.throughput, v) {
			return false
		}
		ch.throughputNil = false
		return true
	},
	"setup_info.phone_name":          func(ch *channel, v any) bool { return setOptString(&ch.phoneName, v) },
	"setup_info.phone_number":        func(ch *channel, v any) bool { return setOptString(&ch.phoneNumber, v) },
	"setup_info.default_language":    func(ch *channel, v any) bool { return setOptString(&ch.language, v) },
	"setup_info.ivr":                 func(ch *channel, v any) bool { return setBool(&ch.ivr, v) },
	"setup_info.verification_method": func(ch *channel, v any) bool { return setOptString(&ch.verification, v) },
	"setup_info.was_in_use":          func(ch *channel, v any) bool { return setBool(&ch.wasInUse, v) },
}

func setString(p *string, v any) bool {
	s, ok := v.(string)
	if ok {
		*p = s
	}
	return ok
}

func setOptString(p *optString, v any) bool {
	switch v := v.(type) {
	case nil:
		*p = optString{}
	case string:
		*p = some(v)
	default:
		return false
	}
	return true
}

// setPresent sets an optional (absent-able, not nullable) string.
func setPresent(p *optString, v any) bool {
	s, ok := v.(string)
	if ok {
		*p = some(s)
	}
	return ok
}

func setBool(p *bool, v any) bool {
	b, ok := v.(bool)
	if ok {
		*p = b
	}
	return ok
}

func setInt(p *int, v any) bool {
	switch v := v.(type) {
	case int:
		*p = v
	case int32:
		*p = int(v)
	case int64:
		*p = int(v)
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return false
		}
		*p = int(n)
	default:
		return false
	}
	return true
}

func setStamp(p *stamp, v any, nullable bool) bool {
	switch v := v.(type) {
	case nil:
		if !nullable {
			return false
		}
		*p = stamp{}
		return true
	case string:
		st, ok := parseStamp(v)
		if ok {
			*p = st
		}
		return ok
	case time.Time:
		*p = at(v.UnixMicro(), fmtFracZ)
		return true
	}
	return false
}
