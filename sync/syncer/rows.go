package syncer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/hubsync/hubsync/sync/hubapi"
)

// clientRow is one client as ClientUpsert takes it (queries/clients.sql): the
// JSON names are the columns of jsonb_to_recordset there.
type clientRow struct {
	ID                    string          `json:"id"`
	Name                  *string         `json:"name"`
	Status                *string         `json:"status"`
	PartnerPayload        *string         `json:"partner_payload"`
	MaxChannels           *int64          `json:"max_channels"`
	FBBusinessID          *string         `json:"fb_business_id"`
	Organisation          *string         `json:"organisation"`
	ContactEmail          *string         `json:"contact_email"`
	ContactPhone          *string         `json:"contact_phone"`
	ContactWebpageURL     *string         `json:"contact_webpage_url"`
	ContactLanguage       *string         `json:"contact_language"`
	ContactCountry        *string         `json:"contact_country"`
	ContactStreetName     *string         `json:"contact_street_name"`
	ContactCity           *string         `json:"contact_city"`
	ContactFullName       *string         `json:"contact_full_name"`
	ContactZipCode        *string         `json:"contact_zip_code"`
	ContactUserName       *string         `json:"contact_user_name"`
	ContactUserEmail      *string         `json:"contact_user_email"`
	ContactUserPhone      *string         `json:"contact_user_phone"`
	MetaInfo              json.RawMessage `json:"meta_info"`
	CreatedBy             json.RawMessage `json:"created_by"`
	ModifiedBy            json.RawMessage `json:"modified_by"`
	Suspicious            *bool           `json:"suspicious"`
	EnabledForChatSupport *bool           `json:"enabled_for_chat_support"`
	CreatedAt             *time.Time      `json:"created_at"`
	ModifiedAt            *time.Time      `json:"modified_at"`
	Raw                   json.RawMessage `json:"raw"`
	ContentHash           byteaHex        `json:"content_hash"`
}

// channelRow is one channel as ChannelUpsert takes it (queries/channels.sql).
type channelRow struct {
	ID                             string          `json:"id"`
	ClientID                       string          `json:"client_id"`
	Status                         *string         `json:"status"`
	AvailabilityStatus             *string         `json:"availability_status"`
	HubStatus                      *string         `json:"hub_status"`
	CurrentLimit                   *string         `json:"current_limit"`
	CurrentQualityRating           *string         `json:"current_quality_rating"`
	CurrentQualityUpdateEvent      *string         `json:"current_quality_update_event"`
	PhoneNumber                    *string         `json:"phone_number"`
	PhoneName                      *string         `json:"phone_name"`
	Certificate                    *string         `json:"certificate"`
	DefaultLanguage                *string         `json:"default_language"`
	IVR                            *bool           `json:"ivr"`
	VerificationMethod             *string         `json:"verification_method"`
	WasInUse                       *bool           `json:"was_in_use"`
	IsOBA                          *bool           `json:"is_oba"`
	SettingsTier                   *string         `json:"settings_tier"`
	SettingsDataLocalizationRegion *string         `json:"settings_data_localization_region"`
	SettingsAllowedOutbound        *bool           `json:"settings_allowed_to_send_outbound"`
	ThroughputLevel                *string         `json:"throughput_level"`
	AccountMode                    *string         `json:"account_mode"`
	IsMigrated                     *bool           `json:"is_migrated"`
	HasInbox                       *bool           `json:"has_inbox"`
	Version                        *int64          `json:"version"`
	CreatedAt                      *time.Time      `json:"created_at"`
	CancelledAt                    *time.Time      `json:"cancelled_at"`
	TerminatedAt                   *time.Time      `json:"terminated_at"`
	BillingStartedAt               *time.Time      `json:"billing_started_at"`
	Raw                            json.RawMessage `json:"raw"`
	ContentHash                    byteaHex        `json:"content_hash"`
}

// byteaHex is a content hash as the bytes COPY sends, and in JSON as bytea
// hex input (\x and hex digits), which jsonb_populate_recordset reads into
// the bytea column.
type byteaHex []byte

func (b byteaHex) MarshalText() ([]byte, error) {
	return hex.AppendEncode([]byte(`\x`), b), nil
}

// contentHash is what a row's content_hash column holds: the SHA-256 of the
// object's bytes as received. Equal hashes mean nothing to write.
func contentHash(raw []byte) []byte {
	h := sha256.Sum256(raw)
	return h[:]
}

// timeParser turns the API's timestamp strings into times, counting the ones
// it cannot read. A bad timestamp never fails the run: its column is NULL and
// the string stays in raw.
type timeParser struct {
	bad  int
	warn func(field, value string)
}

func (p *timeParser) parse(field string, s *string) *time.Time {
	if s == nil || *s == "" {
		return nil
	}
	t, ok := hubapi.ParseTime(*s)
	if !ok {
		p.bad++
		if p.warn != nil {
			p.warn(field, *s)
		}
		return nil
	}
	return &t
}

// rawOrNil keeps JSON null and absence apart from objects: both become SQL NULL.
func rawOrNil(r json.RawMessage) json.RawMessage {
	if len(r) == 0 || bytes.Equal(r, []byte("null")) {
		return nil
	}
	return r
}

func newClientRow(c *hubapi.PartnerClient, hash []byte, tp *timeParser) clientRow {
	r := clientRow{
		ID:                    c.ID,
		Name:                  c.Name,
		Status:                c.Status,
		PartnerPayload:        c.PartnerPayload,
		MaxChannels:           c.MaxChannels,
		FBBusinessID:          c.FBBusinessID,
		Organisation:          c.Organisation,
		CreatedBy:             rawOrNil(c.CreatedBy),
		ModifiedBy:            rawOrNil(c.ModifiedBy),
		Suspicious:            c.Suspicious,
		EnabledForChatSupport: c.EnabledForChatSupport,
		CreatedAt:             tp.parse("client.created_at", c.CreatedAt),
		ModifiedAt:            tp.parse("client.modified_at", c.ModifiedAt),
		Raw:                   c.Raw,
		ContentHash:           hash,
	}
	if ci := c.ContactInfo; ci != nil {
		r.ContactEmail, r.ContactPhone, r.ContactWebpageURL = ci.Email, ci.Phone, ci.WebpageURL
		r.ContactLanguage, r.ContactCountry, r.ContactStreetName = ci.Language, ci.Country, ci.StreetName
		r.ContactCity, r.ContactFullName, r.ContactZipCode = ci.City, ci.FullName, ci.ZipCode
	}
	if cu := c.ContactUser; cu != nil {
		r.ContactUserName, r.ContactUserEmail, r.ContactUserPhone = cu.Name, cu.Email, cu.Phone
	}
	if c.MetaInfo != nil {
		if b, err := json.Marshal(c.MetaInfo); err == nil {
			r.MetaInfo = b
		}
	}
	return r
}

func newChannelRow(ch *hubapi.Channel, hash []byte, tp *timeParser) channelRow {
	r := channelRow{
		ID:                        ch.ID,
		ClientID:                  ch.ClientID,
		Status:                    ch.Status,
		AvailabilityStatus:        ch.AvailabilityStatus,
		HubStatus:                 ch.HubStatus,
		CurrentLimit:              ch.CurrentLimit,
		CurrentQualityRating:      ch.CurrentQualityRating,
		CurrentQualityUpdateEvent: ch.CurrentQualityUpdateEvent,
		IsOBA:                     ch.IsOBA,
		AccountMode:               ch.AccountMode,
		IsMigrated:                ch.IsMigrated,
		HasInbox:                  ch.HasInbox,
		Version:                   ch.Version,
		CreatedAt:                 tp.parse("channel.created_at", ch.CreatedAt),
		CancelledAt:               tp.parse("channel.cancelled_at", ch.CancelledAt),
		TerminatedAt:              tp.parse("channel.terminated_at", ch.TerminatedAt),
		BillingStartedAt:          tp.parse("channel.billing_started_at", ch.BillingStartedAt),
		Raw:                       ch.Raw,
		ContentHash:               hash,
	}
	if s := ch.SetupInfo; s != nil {
		r.PhoneNumber, r.PhoneName, r.Certificate, r.DefaultLanguage = s.PhoneNumber, s.PhoneName, s.Certificate, s.DefaultLanguage
		r.IVR, r.VerificationMethod, r.WasInUse = s.IVR, s.VerificationMethod, s.WasInUse
	}
	if s := ch.Settings; s != nil {
		r.SettingsTier, r.SettingsDataLocalizationRegion = s.Tier, s.DataLocalizationRegion
		r.SettingsAllowedOutbound = s.IsAllowedToSendOutboundMessage
		if s.Throughput != nil {
			r.ThroughputLevel = s.Throughput.Level
		}
	}
	return r
}
