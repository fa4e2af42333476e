package syncer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hubsync/hubsync/db"
)

// copyNewPage writes a page none of whose clients is stored yet by COPY
// (queries/copy.sql): the rows, and the first-sighting history that
// ClientUpsert and ChannelUpsert would write for them, one row per tracked
// attribute with a value. It reports false, having written nothing, when a
// row exists after all (a channel that moved to one of these new clients):
// the caller then upserts the page.
func (r *run) copyNewPage(ctx context.Context, tx pgx.Tx, clients []clientRow, chans []channelRow, t *pageTally) (bool, error) {
	p := r.s.cfg.PartnerID
	run := runID(r.id)
	hist := make([]db.StatusHistoryCopyParams, 0, len(clients)+len(channelHistory)*len(chans))
	first := func(entity, id, clientID, attr string, v *string, kinds map[transition]int) {
		if v == nil {
			return
		}
		hist = append(hist, db.StatusHistoryCopyParams{PartnerID: p, Entity: entity, EntityID: id,
			ClientID: pgtype.Text{String: clientID, Valid: true}, Attribute: attr, ToValue: text(v), SyncRunID: run})
		kinds[transition{attr: attr, to: *v}]++
	}
	clientKinds, channelKinds := map[transition]int{}, map[transition]int{}
	cp := make([]db.ClientsCopyParams, len(clients))
	for i := range clients {
		c := &clients[i]
		cp[i] = db.ClientsCopyParams{PartnerID: p, ID: c.ID, Name: text(c.Name), Status: text(c.Status),
			PartnerPayload: text(c.PartnerPayload), MaxChannels: int8v(c.MaxChannels), FbBusinessID: text(c.FBBusinessID),
			Organisation: text(c.Organisation), ContactEmail: text(c.ContactEmail), ContactPhone: text(c.ContactPhone),
			ContactWebpageUrl: text(c.ContactWebpageURL), ContactLanguage: text(c.ContactLanguage),
			ContactCountry: text(c.ContactCountry), ContactStreetName: text(c.ContactStreetName),
			ContactCity: text(c.ContactCity), ContactFullName: text(c.ContactFullName), ContactZipCode: text(c.ContactZipCode),
			ContactUserName: text(c.ContactUserName), ContactUserEmail: text(c.ContactUserEmail),
			ContactUserPhone: text(c.ContactUserPhone), MetaInfo: c.MetaInfo, CreatedBy: c.CreatedBy, ModifiedBy: c.ModifiedBy,
			Suspicious: boolv(c.Suspicious), EnabledForChatSupport: boolv(c.EnabledForChatSupport),
			CreatedAt: ts(c.CreatedAt), ModifiedAt: ts(c.ModifiedAt), Raw: c.Raw, ContentHash: c.ContentHash}
		first("client", c.ID, c.ID, "status", c.Status, clientKinds)
	}
	hp := make([]db.ChannelsCopyParams, len(chans))
	for i := range chans {
		ch := &chans[i]
		hp[i] = db.ChannelsCopyParams{PartnerID: p, ID: ch.ID, ClientID: ch.ClientID, Status: text(ch.Status),
			AvailabilityStatus: text(ch.AvailabilityStatus), HubStatus: text(ch.HubStatus),
			CurrentLimit: text(ch.CurrentLimit), CurrentQualityRating: text(ch.CurrentQualityRating),
			CurrentQualityUpdateEvent: text(ch.CurrentQualityUpdateEvent), PhoneNumber: text(ch.PhoneNumber),
			PhoneName: text(ch.PhoneName), Certificate: text(ch.Certificate), DefaultLanguage: text(ch.DefaultLanguage),
			Ivr: boolv(ch.IVR), VerificationMethod: text(ch.VerificationMethod), WasInUse: boolv(ch.WasInUse),
			IsOba: boolv(ch.IsOBA), SettingsTier: text(ch.SettingsTier),
			SettingsDataLocalizationRegion: text(ch.SettingsDataLocalizationRegion),
			SettingsAllowedToSendOutbound:  boolv(ch.SettingsAllowedOutbound), ThroughputLevel: text(ch.ThroughputLevel),
			AccountMode: text(ch.AccountMode), IsMigrated: boolv(ch.IsMigrated), HasInbox: boolv(ch.HasInbox),
			Version: int8v(ch.Version), CreatedAt: ts(ch.CreatedAt), CancelledAt: ts(ch.CancelledAt),
			TerminatedAt: ts(ch.TerminatedAt), BillingStartedAt: ts(ch.BillingStartedAt), Raw: ch.Raw, ContentHash: ch.ContentHash}
		for _, a := range channelHistory {
			first("channel", ch.ID, ch.ClientID, a.name, a.value(ch), channelKinds)
		}
	}

	sp, err := tx.Begin(ctx) // a savepoint
	if err != nil {
		return false, fmt.Errorf("savepoint: %w", err)
	}
	q := db.New(sp)
	if len(cp) > 0 {
		if _, err := q.ClientsCopy(ctx, cp); err != nil {
			return r.copyFailed(ctx, sp, fmt.Errorf("copy %d new clients: %w", len(cp), err))
		}
	}
	if len(hp) > 0 {
		if _, err := q.ChannelsCopy(ctx, hp); err != nil {
			return r.copyFailed(ctx, sp, fmt.Errorf("copy %d new channels: %w", len(hp), err))
		}
	}
	if len(hist) > 0 {
		if _, err := q.StatusHistoryCopy(ctx, hist); err != nil {
			return r.copyFailed(ctx, sp, fmt.Errorf("copy %d history rows: %w", len(hist), err))
		}
	}
	if err := sp.Commit(ctx); err != nil { // releases the savepoint
		return false, fmt.Errorf("release savepoint: %w", err)
	}
	t.clientsInserted, t.channelsInserted = len(cp), len(hp)
	t.clientKinds, t.channelKinds = clientKinds, channelKinds
	return true, nil
}

// channelHistory are the channel attributes with history besides client_id,
// whose first sighting has nothing to record.
var channelHistory = []struct {
	name  string
	value func(*channelRow) *string
}{
	{"status", func(c *channelRow) *string { return c.Status }},
	{"availability_status", func(c *channelRow) *string { return c.AvailabilityStatus }},
	{"current_quality_rating", func(c *channelRow) *string { return c.CurrentQualityRating }},
	{"current_limit", func(c *channelRow) *string { return c.CurrentLimit }},
}

// copyFailed rolls back to the savepoint when err is a unique violation (a
// row exists after all), so that the page can be upserted instead.
func (r *run) copyFailed(ctx context.Context, sp pgx.Tx, err error) (bool, error) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return false, err
	}
	if rbErr := sp.Rollback(ctx); rbErr != nil {
		return false, fmt.Errorf("%w; roll back to savepoint: %v", err, rbErr)
	}
	r.log.Debug("a row of an all-new page exists already: upserting the page", "err", err)
	return false, nil
}

func text(s *string) pgtype.Text {
	if s == nil {
		return pgtype.Text{}
	}
	return pgtype.Text{String: *s, Valid: true}
}

func boolv(b *bool) pgtype.Bool {
	if b == nil {
		return pgtype.Bool{}
	}
	return pgtype.Bool{Bool: *b, Valid: true}
}

func int8v(n *int64) pgtype.Int8 {
	if n == nil {
		return pgtype.Int8{}
	}
	return pgtype.Int8{Int64: *n, Valid: true}
}

func ts(t *time.Time) pgtype.Timestamptz {
	if t == nil {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: *t, Valid: true}
}
