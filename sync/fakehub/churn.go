package fakehub

import (
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
)

// ChangeKind says what a Change did.
type ChangeKind string

// Kinds of Change.
const (
	ChannelFieldChanged ChangeKind = "channel_field_changed" // Field went From -> To
	ChannelAdded        ChangeKind = "channel_added"
	ChannelRemoved      ChangeKind = "channel_removed"
	ChannelMoved        ChangeKind = "channel_moved" // From and To are client ids
	ClientFieldChanged  ChangeKind = "client_field_changed"
	ClientAdded         ChangeKind = "client_added"
	ClientRemoved       ChangeKind = "client_removed" // its channels are reported as ChannelRemoved
)

// Change is one observable difference made by Churn.
type Change struct {
	Kind      ChangeKind
	ClientID  string // the client concerned (for a move, the new owner)
	ChannelID string // empty for client changes
	Field     string // JSON path of a changed field
	From, To  string // old and new values; "" stands for null
}

// ChurnReport lists what one Churn call changed, in order.
type ChurnReport struct {
	Changes []Change
}

// Count returns how many changes of the given kind the report holds.
func (r ChurnReport) Count(kind ChangeKind) int {
	n := 0
	for _, c := range r.Changes {
		if c.Kind == kind {
			n++
		}
	}
	return n
}

// Churn applies n random changes, deterministic for the seed and the
// sequence of earlier calls, the way a real partner's data drifts: mostly
// channel status, availability, quality rating and messaging limit changes;
// now and then a new or removed channel, a new or removed client, a client
// status change, or a channel moved to another client.
func (s *Server) Churn(n int) ChurnReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rep ChurnReport
	for range n {
		s.churnOne(&rep)
	}
	if len(rep.Changes) > 0 {
		s.changed()
	}
	s.logger.Debug("fakehub churn", slog.Int("operations", n), slog.Int("changes", len(rep.Changes)))
	return rep
}

const (
	opStatus = iota
	opQuality
	opLimit
	opLifecycle
	opClientStatus
	opAddChannel
	opRemoveChannel
	opAddClient
	opRemoveClient
	opMoveChannel
)

var opWeights = []int{40, 18, 14, 6, 5, 4, 3, 3, 2, 3}

func (s *Server) churnOne(rep *ChurnReport) {
	r := s.rng
	op := weighted(r, opWeights)
	if len(s.byID) == 0 {
		op = opAddClient
	} else if len(s.allChans) == 0 && op != opClientStatus && op != opAddClient && op != opRemoveClient {
		op = opAddChannel
	}
	now := s.tick()
	switch op {
	case opStatus, opLifecycle:
		ch := pick(r, s.allChans)
		before := snapshot(ch)
		s.transition(ch, now, op == opLifecycle)
		ch.cache.Store(nil)
		reportDiff(rep, ch, before)
	case opQuality:
		ch := pick(r, s.allChans)
		before := snapshot(ch)
		switch ch.quality {
		case "High":
			ch.quality, ch.qualityEvt = []string{"Medium", "Low"}[weighted(r, []int{80, 20})], some("DOWNGRADE")
		case "Medium":
			if chance(r, 0.6) {
				ch.quality, ch.qualityEvt = "High", some("UPGRADE")
			} else {
				ch.quality, ch.qualityEvt = "Low", some("FLAGGED")
			}
		case "Low":
			ch.quality, ch.qualityEvt = "Medium", some("UNFLAGGED")
		default:
			ch.quality, ch.qualityEvt = "High", some("ONBOARDING")
		}
		ch.cache.Store(nil)
		reportDiff(rep, ch, before)
	case opLimit:
		ch := pick(r, s.allChans)
		before := snapshot(ch)
		ladder := Limits[1:]
		i := slices.Index(ladder, ch.limit)
		switch {
		case i < 0:
			ch.limit = "TIER_250"
		case i == len(ladder)-1 || (i > 0 && chance(r, 0.3)):
			ch.limit = ladder[i-1]
		default:
			ch.limit = ladder[i+1]
		}
		ch.cache.Store(nil)
		reportDiff(rep, ch, before)
	case opClientStatus:
		c := pick(r, s.byID)
		from := c.status
		switch c.status {
		case "active":
			c.status = []string{"inactive", "suspended"}[r.IntN(2)]
		default:
			c.status = "active"
		}
		c.modifiedAt = at(max(now, c.modifiedAt.us+1), c.modifiedAt.f)
		c.modifiedBy = uint8(1 + r.IntN(len(users)-2))
		c.dropOverrides("status")
		c.cache.Store(nil)
		rep.Changes = append(rep.Changes, Change{Kind: ClientFieldChanged, ClientID: c.id, Field: "status", From: from, To: c.status})
	case opAddChannel:
		c := pick(r, s.byID)
		ch := s.buildChannel(r, c, now, now, "created", vPlain)
		s.attach(ch)
		rep.Changes = append(rep.Changes, Change{Kind: ChannelAdded, ClientID: c.id, ChannelID: ch.id})
	case opRemoveChannel:
		ch := pick(r, s.allChans)
		rep.Changes = append(rep.Changes, Change{Kind: ChannelRemoved, ClientID: ch.owner.id, ChannelID: ch.id})
		s.removeChannel(ch)
	case opAddClient:
		c := s.addClient()
		rep.Changes = append(rep.Changes, Change{Kind: ClientAdded, ClientID: c.id})
		for range 1 + r.IntN(3) {
			ch := s.buildChannel(r, c, now, now, "created", vPlain)
			s.attach(ch)
			rep.Changes = append(rep.Changes, Change{Kind: ChannelAdded, ClientID: c.id, ChannelID: ch.id})
		}
	case opRemoveClient:
		c := pick(r, s.byID)
		for _, ch := range c.chans {
			rep.Changes = append(rep.Changes, Change{Kind: ChannelRemoved, ClientID: c.id, ChannelID: ch.id})
		}
		rep.Changes = append(rep.Changes, Change{Kind: ClientRemoved, ClientID: c.id})
		s.removeClient(c)
	case opMoveChannel:
		if len(s.byID) < 2 {
			return
		}
		ch := pick(r, s.allChans)
		to := pick(r, s.byID)
		if to == ch.owner {
			i, _ := slices.BinarySearchFunc(s.byID, to.id, func(x *client, id string) int { return strings.Compare(x.id, id) })
			to = s.byID[(i+1)%len(s.byID)]
		}
		from := ch.owner.id
		s.moveChannel(ch, to)
		rep.Changes = append(rep.Changes, Change{Kind: ChannelMoved, ClientID: to.id, ChannelID: ch.id, Field: "client_id", From: from, To: to.id})
	}
}

// transition moves a channel one step along a plausible lifecycle: setting
// up to ready, ready to error or a new name and back, or (lifecycle) ready to
// cancelled to inactive.
func (s *Server) transition(ch *channel, now int64, lifecycle bool) {
	r := s.rng
	wasSettingUp := statusGroup(ch.status) == "setting_up"
	variant := vPlain
	switch {
	case lifecycle && ch.availStatus.s == "ready":
		variant = vCancelled
	case lifecycle && ch.availStatus.s == "cancelled":
		variant = vInactive
		if chance(r, 0.5) {
			ch.status = "removed"
		}
	case lifecycle:
		ch.status = "ready"
	default:
		ch.status = nextStatus(r, ch.status)
	}
	cancelled := ch.cancelledAt
	settle(ch, r, now, variant)
	// settle draws lifecycle timestamps anywhere in the past; a change seen
	// now happened now.
	switch ch.availStatus.s {
	case "cancelled":
		ch.cancelledAt = at(now, ch.cancelledAt.f)
	case "inactive":
		if cancelled.ok {
			ch.cancelledAt = cancelled
		}
		ch.terminated = at(now, ch.terminated.f)
	}
	if wasSettingUp && statusGroup(ch.status) == "ready" {
		ch.limit, ch.quality = Limits[2+r.IntN(2)], "High"
		ch.billingAt = at(now, randFormat(r))
		if ch.certLen == 0 {
			ch.certLen = uint16(240 + r.IntN(200))
		}
	}
}

func nextStatus(r *rand.Rand, status string) string {
	roll := r.IntN(100)
	switch status {
	case "created":
		return "unverified"
	case "unverified":
		switch {
		case roll < 80:
			return "verified"
		case roll < 90:
			return "certificate_declined"
		}
		return "error"
	case "ready":
		switch {
		case roll < 50:
			return "error"
		case roll < 80:
			return "new_name_requested"
		case roll < 90:
			return "unregistered"
		}
		return "transferred"
	case "new_name_requested":
		if roll < 70 {
			return "ready"
		}
		return "certificate_declined"
	case "certificate_declined":
		if roll < 60 {
			return "new_name_requested"
		}
		return "ready"
	case "error", "unregistered":
		if roll < 75 {
			return "ready"
		}
		return "removed"
	}
	// verified, deprecated migration steps, inactive ones coming back, and
	// values the generator does not know.
	return "ready"
}

type channelSnapshot [5]string

var snapshotFields = [5]string{"status", "availability_status", "hub_status", "current_limit", "current_quality_rating"}

func snapshot(ch *channel) channelSnapshot {
	return channelSnapshot{ch.status, ch.availStatus.s, ch.hubStatus, ch.limit, ch.quality}
}

func reportDiff(rep *ChurnReport, ch *channel, before channelSnapshot) {
	after := snapshot(ch)
	for i := range after {
		if before[i] != after[i] {
			rep.Changes = append(rep.Changes, Change{Kind: ChannelFieldChanged, ClientID: ch.owner.id, ChannelID: ch.id, Field: snapshotFields[i], From: before[i], To: after[i]})
		}
	}
}
