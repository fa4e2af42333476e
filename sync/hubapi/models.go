package hubapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// PartnerClient is a client of the partner (ClientPayloadOut in the spec).
//
// Pointer fields are nil when the field was absent or null, so that "not
// sent" and "sent empty" stay distinct. Timestamps stay strings as sent;
// convert them with ParseTime.
type PartnerClient struct {
	// ID is the client id. Records without one are rejected as BadRecord.
	ID string `json:"id"`
	// Name is the client (company) name.
	Name *string `json:"name"`
	// Status is the client status. The spec documents no enum for it.
	Status *string `json:"status"`
	// PartnerPayload is free text the partner may set through UpdateClient.
	PartnerPayload *string `json:"partner_payload"`
	// MaxChannels is the number of channels the client may have.
	MaxChannels *int64 `json:"max_channels"`
	// FBBusinessID is the Meta business id of the first WhatsApp business
	// account the client onboarded a number with.
	FBBusinessID *string `json:"fb_business_id"`
	// Organisation is deprecated upstream.
	Organisation *string `json:"organisation"`
	// CreatedAt is the creation time as sent; see ParseTime.
	CreatedAt *string `json:"created_at"`
	// ModifiedAt is the time of the last modification as sent; see ParseTime.
	ModifiedAt *string `json:"modified_at"`
	// CreatedBy describes who created the client: a free-form object, kept
	// as sent (nil when absent, the literal null when null).
	CreatedBy json.RawMessage `json:"created_by"`
	// ModifiedBy describes who last modified the client, like CreatedBy.
	ModifiedBy json.RawMessage `json:"modified_by"`
	// MetaInfo is deprecated upstream but still sent.
	MetaInfo *ClientMetaInfo `json:"meta_info"`
	// ContactInfo is the company's contact and address data.
	ContactInfo *ContactInfo `json:"contact_info"`
	// ContactUser is the client's contact person.
	ContactUser *ContactUser `json:"contact_user"`
	// Suspicious is an internal, deprecated flag.
	Suspicious *bool `json:"suspicious"`
	// EnabledForChatSupport is an internal, deprecated flag.
	EnabledForChatSupport *bool `json:"enabled_for_chat_support"`

	// Raw is the object exactly as received (compacted), including fields
	// this version does not know. It is set by UnmarshalJSON.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes the documented fields leniently (unknown fields are
// ignored) and keeps the compacted object in Raw.
func (p *PartnerClient) UnmarshalJSON(b []byte) error {
	return decodeClient(bytes.Clone(b), p) // Raw may share the bytes, which are the decoder's
}

// decodeClient is UnmarshalJSON without its copy: p.Raw may share b's
// array. The list endpoint decodes each record of a body it owns this way,
// which is one pass of encoding/json over the record instead of three.
func decodeClient(b []byte, p *PartnerClient) error {
	type plain PartnerClient // no methods: avoids recursion
	var v plain
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	v.CreatedBy, v.ModifiedBy = compactOpt(v.CreatedBy), compactOpt(v.ModifiedBy)
	*p = PartnerClient(v)
	p.Raw = compact(b)
	return nil
}

// ClientMetaInfo is the deprecated meta_info block of a client.
type ClientMetaInfo struct {
	BusinessVertical    *string `json:"business_vertical"`
	Timezone            *string `json:"timezone"`
	About               *string `json:"about"`
	BusinessDescription *string `json:"business_description"`
	UseCase             *string `json:"use_case"`
}

// ContactInfo is a client's company contact and address information.
type ContactInfo struct {
	Email      *string `json:"email"`
	WebpageURL *string `json:"webpage_url"`
	Phone      *string `json:"phone"`
	Language   *string `json:"language"`
	// Country is a country code.
	Country    *string `json:"country"`
	StreetName *string `json:"street_name"`
	City       *string `json:"city"`
	FullName   *string `json:"full_name"`
	ZipCode    *string `json:"zip_code"`
}

// ContactUser is a client's contact person.
type ContactUser struct {
	Email *string `json:"email"`
	Phone *string `json:"phone"`
	Name  *string `json:"name"`
}

// Channel is a WhatsApp number a client shares with the partner
// (ChannelPublicPayloadOut in the spec).
//
// Pointer fields are nil when the field was absent or null. A channel
// without a status is still returned with Status nil: whether to store or
// skip it is the caller's decision. Enum-like fields hold whatever the
// server sent; check them with the IsKnown… functions.
type Channel struct {
	// ID is the channel id. Records without one are rejected as BadRecord.
	ID string `json:"id"`
	// ClientID is the client that owns the channel. SharedNumbers fills it
	// with the requested client id when the server omits it (Raw keeps what
	// was sent).
	ClientID string `json:"client_id"`
	// Status is the onboarding status; see ChannelStatuses.
	Status *string `json:"status"`
	// AvailabilityStatus is the unified availability; see AvailabilityStatuses.
	AvailabilityStatus *string `json:"availability_status"`
	// HubStatus is deprecated upstream in favour of AvailabilityStatus; see HubStatuses.
	HubStatus *string `json:"hub_status"`
	// CurrentLimit is Meta's messaging limit tier; see CurrentLimits.
	CurrentLimit *string `json:"current_limit"`
	// CurrentQualityRating is Meta's quality rating; see QualityRatings.
	CurrentQualityRating *string `json:"current_quality_rating"`
	// CurrentQualityUpdateEvent is Meta's last quality update event.
	CurrentQualityUpdateEvent *string `json:"current_quality_update_event"`
	// IsOBA tells whether the number is a Meta Official Business Account.
	IsOBA *bool `json:"is_oba"`
	// CreatedAt is the creation time as sent; see ParseTime.
	CreatedAt *string `json:"created_at"`
	// CancelledAt is the cancellation time as sent, if any.
	CancelledAt *string `json:"cancelled_at"`
	// TerminatedAt is the termination time as sent, if any.
	TerminatedAt *string `json:"terminated_at"`
	// BillingStartedAt is deprecated upstream.
	BillingStartedAt *string `json:"billing_started_at"`
	// AccountMode is deprecated upstream ("live" or "sandbox").
	AccountMode *string `json:"account_mode"`
	// IsMigrated is an internal, deprecated flag.
	IsMigrated *bool `json:"is_migrated"`
	// HasInbox is an internal, deprecated flag.
	HasInbox *bool `json:"has_inbox"`
	// Version is deprecated upstream.
	Version *int64 `json:"version"`
	// Settings holds the channel settings.
	Settings *Settings `json:"settings"`
	// SetupInfo holds the number's setup information (phone number, name…).
	SetupInfo *SetupInfo `json:"setup_info"`

	// Raw is the object exactly as received (compacted), including fields
	// this version does not know. It is set by UnmarshalJSON.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes the documented fields leniently (unknown fields are
// ignored) and keeps the compacted object in Raw.
func (c *Channel) UnmarshalJSON(b []byte) error {
	return decodeChannel(bytes.Clone(b), c) // Raw may share the bytes, which are the decoder's
}

// decodeChannel is decodeClient for a channel.
func decodeChannel(b []byte, c *Channel) error {
	type plain Channel // no methods: avoids recursion
	var v plain
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*c = Channel(v)
	c.Raw = compact(b)
	return nil
}

// Settings are a channel's settings.
type Settings struct {
	// Tier is the billing tier.
	Tier                           *string `json:"tier"`
	IsAllowedToSendOutboundMessage *bool   `json:"is_allowed_to_send_outbound_message"`
	// DataLocalizationRegion is where Meta stores the message data.
	DataLocalizationRegion *string     `json:"data_localization_region"`
	Throughput             *Throughput `json:"throughput"`
}

// Throughput is a channel's current throughput setting.
type Throughput struct {
	Level *string `json:"level"`
}

// SetupInfo is a channel's setup information.
type SetupInfo struct {
	PhoneName       *string `json:"phone_name"`
	PhoneNumber     *string `json:"phone_number"`
	Certificate     *string `json:"certificate"`
	DefaultLanguage *string `json:"default_language"`
	// IVR tells whether the number has Interactive Voice Response.
	IVR *bool `json:"ivr"`
	// VerificationMethod is "voice" or "sms".
	VerificationMethod *string `json:"verification_method"`
	// WasInUse tells whether the number was already in use on WhatsApp.
	WasInUse *bool `json:"was_in_use"`
}

// Known values of the enum-like channel fields, as documented in the spec.
// The API may send others (a new status, say); callers store them as sent
// and use these lists only to notice the unknown ones.
var (
	// ChannelStatuses are the documented values of Channel.Status.
	ChannelStatuses = []string{
		"created", "unverified", "verified", "ready", "transferred", "modified",
		"imported", "new_name_requested", "certificate_declined",
		"consents_signed", "error", "porting_ready", "ready_for_migration",
		"waiting_for_migration_code", "migration_code_requested",
		"migration_verified", "unregistered", "removed",
	}
	// AvailabilityStatuses are the documented values of Channel.AvailabilityStatus.
	AvailabilityStatuses = []string{"setting_up", "ready", "error", "cancelled", "inactive"}
	// HubStatuses are the documented values of the deprecated Channel.HubStatus.
	HubStatuses = []string{
		"live", "sandbox", "done", "pending", "draft", "pending_deletion",
		"unregistered", "unknown",
	}
	// CurrentLimits are Meta's messaging limit tiers ("NA, or from TIER_50
	// to TIER_UNLIMITED" in the spec; TIER_2K is Meta's newer step).
	CurrentLimits = []string{
		"NA", "TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K",
		"TIER_100K", "TIER_UNLIMITED",
	}
	// QualityRatings are the documented values of Channel.CurrentQualityRating.
	QualityRatings = []string{"NA", "Low", "Medium", "High"}
	// VerificationMethods are the documented values of SetupInfo.VerificationMethod.
	VerificationMethods = []string{"voice", "sms"}
)

// IsKnownChannelStatus reports whether v is a documented Channel.Status.
func IsKnownChannelStatus(v string) bool { return slices.Contains(ChannelStatuses, v) }

// IsKnownAvailabilityStatus reports whether v is a documented Channel.AvailabilityStatus.
func IsKnownAvailabilityStatus(v string) bool { return slices.Contains(AvailabilityStatuses, v) }

// IsKnownHubStatus reports whether v is a documented Channel.HubStatus.
func IsKnownHubStatus(v string) bool { return slices.Contains(HubStatuses, v) }

// IsKnownCurrentLimit reports whether v is a known Channel.CurrentLimit.
func IsKnownCurrentLimit(v string) bool { return slices.Contains(CurrentLimits, v) }

// IsKnownQualityRating reports whether v is a documented Channel.CurrentQualityRating.
func IsKnownQualityRating(v string) bool { return slices.Contains(QualityRatings, v) }

// timeLayouts are tried in order by ParseTime. Go accepts a fractional
// second after the seconds field even when the layout has none, so each
// layout covers both the with- and without-fraction forms.
var timeLayouts = []struct {
	layout string
	zoned  bool
}{
	{time.RFC3339, true},
	{"2006-01-02T15:04:05Z0700", true},
	{"2006-01-02T15:04:05Z07", true},
	{"2006-01-02 15:04:05Z07:00", true},
	{"2006-01-02 15:04:05Z0700", true},
	{"2006-01-02 15:04:05Z07", true},
	{"2006-01-02 15:04:05 Z07:00", true},
	{"2006-01-02T15:04:05", false},
	{"2006-01-02 15:04:05", false},
	{"2006-01-02T15:04", false},
	{"2006-01-02 15:04", false},
	{"2006-01-02", false},
}

// ParseTime parses a timestamp as the API sends it, tolerantly: RFC 3339
// with or without fractional seconds and with "Z" or an offset; the same
// without a zone (taken as UTC, as the contract says); the
// "2006-01-02 15:04:05[.fff][±hh:mm]" form with a space; and a bare date
// (midnight UTC). A trailing " UTC" is accepted too. The result is in UTC.
// It returns false for an empty or unparseable string.
func ParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	// A zoneless time is UTC anyway, so " UTC" can simply go.
	s = strings.TrimSuffix(s, " UTC")
	for _, l := range timeLayouts {
		var (
			t   time.Time
			err error
		)
		if l.zoned {
			t, err = time.Parse(l.layout, s)
		} else {
			t, err = time.ParseInLocation(l.layout, s, time.UTC)
		}
		if err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// compactOpt compacts b unless it is empty.
func compactOpt(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return b
	}
	return compact(b)
}

// compact returns b, which must be valid JSON, without insignificant
// whitespace: the bytes json.Compact would give, without validating b again
// (every caller holds a value encoding/json or json.Valid has checked). A
// value with no such whitespace, as servers send it, is returned as it is,
// sharing b's array.
func compact(b []byte) json.RawMessage {
	i := firstSpace(b)
	if i < 0 {
		return b
	}
	out := append(make([]byte, 0, len(b)), b[:i]...)
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			end := stringEnd(b, i) + 1
			out = append(out, b[i:min(end, len(b))]...)
			i = end
		case isSpace(c):
			i++
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// firstSpace is the index of b's first whitespace outside a string, or -1.
func firstSpace(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			i = stringEnd(b, i)
		case isSpace(c):
			return i
		}
	}
	return -1
}

// stringEnd is the index of the quote that closes the JSON string opening
// at b[i], or len(b) when it is not closed.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(b)
}

// isSpace reports whether c is JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
