package hubapi

import (
	"strings"
	"time"
)

// Known values of the enum-like channel fields, as documented in the spec.
// The API may send others (a new status, say); callers store them as sent
// and use these lists only to notice the unknown ones.
var (
	// ChannelStatuses are the documented values of a channel's status.
	ChannelStatuses = []string{
		"created", "unverified", "verified", "ready", "transferred", "modified",
		"imported", "new_name_requested", "certificate_declined",
		"consents_signed", "error", "porting_ready", "ready_for_migration",
		"waiting_for_migration_code", "migration_code_requested",
		"migration_verified", "unregistered", "removed",
	}
	// AvailabilityStatuses are the documented values of availability_status.
	AvailabilityStatuses = []string{"setting_up", "ready", "error", "cancelled", "inactive"}
	// HubStatuses are the documented values of the deprecated hub_status.
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
	// QualityRatings are the documented values of current_quality_rating.
	QualityRatings = []string{"NA", "Low", "Medium", "High"}
	// VerificationMethods are the documented values of setup_info.verification_method.
	VerificationMethods = []string{"voice", "sms"}
)

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
