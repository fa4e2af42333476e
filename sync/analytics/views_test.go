package analytics_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCurrentChannels(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.client(client{ID: "cl1", Name: "Acme", Email: "ops@acme.example"})
	f.channel(channel{ID: "ch1", ClientID: "cl1", Availability: "ready", Quality: "High"},
		step{f.ago(10 * day), "created"}, step{f.ago(3 * day), "ready"})
	// Other attributes changing later do not move status_since.
	f.change("ch1", "cl1", "current_quality_rating", "Medium", "High", f.ago(hour))
	// Removed: not listed.
	f.channel(channel{ID: "ch2", ClientID: "cl1"}, step{f.ago(10 * day), "ready"}, step{f.ago(day), ""})
	// Back after a removal: in status since the return.
	f.channel(channel{ID: "ch3", ClientID: "cl1", Availability: "error"},
		step{f.ago(10 * day), "error"}, step{f.ago(5 * day), ""}, step{f.ago(2 * hour), "error"})
	f.change("ch3", "cl1", "availability_status", "", "ready", f.ago(10*day))
	f.change("ch3", "cl1", "availability_status", "ready", "", f.ago(5*day))
	f.change("ch3", "cl1", "availability_status", "", "error", f.ago(2*hour-time.Minute))
	// Owner not synced (yet).
	f.channel(channel{ID: "ch4", ClientID: "cl9", Availability: "setting_up"}, step{f.ago(30 * time.Minute), "created"})

	got := f.rows(`
		SELECT channel_id, client_id, client_name, contact_email, status, status_since,
		       time_in_status = now() - status_since, availability_status, availability_since,
		       current_quality_rating, phone_number
		FROM hub.current_channels ORDER BY channel_id`)
	checkRows(t, "current_channels", got, [][]string{
		{"ch1", "cl1", "Acme", "ops@acme.example", "ready", ts(f.ago(3 * day)), "t",
			"ready", ts(f.ago(10 * day)), "High", "+49 ch1"},
		{"ch3", "cl1", "Acme", "ops@acme.example", "error", ts(f.ago(2 * hour)), "t",
			"error", ts(f.ago(2*hour - time.Minute)), "NULL", "+49 ch3"},
		{"ch4", "cl9", "NULL", "NULL", "created", ts(f.ago(30 * time.Minute)), "t",
			"setting_up", ts(f.ago(30 * time.Minute)), "NULL", "+49 ch4"},
	})

	// A query that does not ask how long reads no history at all: the
	// lookups are dropped from its plan.
	plan := f.rows(`EXPLAIN SELECT status, count(*) FROM hub.current_channels GROUP BY status`)
	for _, line := range plan {
		if strings.Contains(line[0], "status_history") {
			t.Errorf("counting current_channels by status reads status_history; expected it not to:\n%s", format(plan))
			break
		}
	}
}

func TestChannelStatusIntervals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.channel(channel{ID: "ch1", ClientID: "cl1"},
		step{f.ago(10 * day), "created"},
		step{f.ago(9 * day), "ready"},
		step{f.ago(5 * day), "error"},
		step{f.ago(4 * day), ""}, // removed: no interval until it returns
		step{f.ago(2 * day), "ready"},
		step{f.ago(1 * day), "error"})
	// Moved to cl2 while ready: the periods after it carry the new owner.
	f.exec(`UPDATE hub.status_history SET client_id = 'cl2' WHERE entity_id = 'ch1' AND changed_at >= $1`, f.ago(2*day))
	f.change("ch1", "cl2", "client_id", "cl1", "cl2", f.ago(3*day))
	// Removed and never back: its last period ends at the removal.
	f.channel(channel{ID: "ch2", ClientID: "cl1"}, step{f.ago(3 * day), "ready"}, step{f.ago(3*day - 90*time.Minute), ""})
	// Other attributes are not status periods.
	f.change("ch2", "cl1", "availability_status", "", "ready", f.ago(3*day))

	got := f.rows(`
		SELECT channel_id, client_id, status, valid_from, valid_to,
		       CASE WHEN is_current THEN 'now - valid_from: ' || (duration = now() - valid_from)
		            ELSE duration::text END,
		       is_current, next_status
		FROM hub.channel_status_intervals ORDER BY channel_id, valid_from`)
	checkRows(t, "channel_status_intervals", got, [][]string{
		{"ch1", "cl1", "created", ts(f.ago(10 * day)), ts(f.ago(9 * day)), "1 day", "f", "ready"},
		{"ch1", "cl1", "ready", ts(f.ago(9 * day)), ts(f.ago(5 * day)), "4 days", "f", "error"},
		{"ch1", "cl1", "error", ts(f.ago(5 * day)), ts(f.ago(4 * day)), "1 day", "f", "NULL"},
		{"ch1", "cl2", "ready", ts(f.ago(2 * day)), ts(f.ago(1 * day)), "1 day", "f", "error"},
		{"ch1", "cl2", "error", ts(f.ago(1 * day)), "NULL", "now - valid_from: true", "t", "NULL"},
		{"ch2", "cl1", "ready", ts(f.ago(3 * day)), ts(f.ago(3*day - 90*time.Minute)), "01:30:00", "f", "NULL"},
	})
}

func TestDailyChannelStatus(t *testing.T) {
	t.Parallel()
	f := setup(t)
	today := f.now.Truncate(day) // UTC midnight
	d := func(n int) time.Time { return today.AddDate(0, 0, -n) }
	// ready until D-3, error D-3 .. D-2, ready again from D-1.
	f.channel(channel{ID: "ch1", ClientID: "cl1"},
		step{d(100), "ready"}, step{d(3).Add(10 * hour), "error"}, step{d(1).Add(5 * hour), "ready"})
	// created and ready the same day (D-5): ready at its end; removed D-2.
	f.channel(channel{ID: "ch2", ClientID: "cl1"},
		step{d(5).Add(12 * hour), "created"}, step{d(5).Add(13 * hour), "ready"}, step{d(2).Add(1 * hour), ""})
	// In error since long before the 90 days.
	f.channel(channel{ID: "ch3", ClientID: "cl1"}, step{d(200), "error"})
	// Came and went before the 90 days.
	f.channel(channel{ID: "ch4", ClientID: "cl1"}, step{d(150), "verified"}, step{d(120), ""})
	// A change at exactly midnight belongs to the day it starts.
	f.channel(channel{ID: "ch5", ClientID: "cl1"}, step{d(60), "ready"}, step{d(10), "error"})

	var want [][]string
	for n := 89; n >= 0; n-- {
		ready, errs := 0, 1 // ch3
		switch {
		case n > 3:
			ready++
		case n > 1:
			errs++
		default:
			ready++
		}
		if n <= 5 && n > 2 {
			ready++
		}
		if n <= 60 && n > 10 {
			ready++
		} else if n <= 10 {
			errs++
		}
		want = append(want,
			[]string{date(d(n)), "error", strconv.Itoa(errs)},
			[]string{date(d(n)), "ready", strconv.Itoa(ready)})
	}
	got := f.rows(`SELECT day, status, channels FROM hub.daily_channel_status ORDER BY day, status`)
	if len(got) > 0 && got[len(got)-1][0] != date(today) {
		t.Skipf("the UTC day changed while the test ran (seeded for %s, queried on %s)", date(today), got[len(got)-1][0])
	}
	checkRows(t, "daily_channel_status", got, want)
}

func TestClientOverview(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.client(client{ID: "cl1", Name: "Acme", MaxChannels: 5, UpdatedAt: f.ago(10 * day)})
	f.client(client{ID: "cl2", Name: "Beta", MaxChannels: 1, UpdatedAt: f.ago(hour)})
	f.client(client{ID: "cl3", Name: "Gone", UpdatedAt: f.ago(2 * day), RemovedAt: f.ago(2 * day)})
	f.channel(channel{ID: "ch1", ClientID: "cl1", Availability: "ready", Quality: "High"}, step{f.ago(9 * day), "ready"})
	f.channel(channel{ID: "ch2", ClientID: "cl1", Availability: "error", Quality: "Medium"},
		step{f.ago(9 * day), "ready"}, step{f.ago(3 * day), "error"})
	f.channel(channel{ID: "ch3", ClientID: "cl1", Availability: "setting_up", Quality: "NA"}, step{f.ago(5 * day), "created"})
	f.channel(channel{ID: "ch4", ClientID: "cl1", Availability: "paused", Quality: "Unheard"}, step{f.ago(5 * day), "verified"})
	// Removed, and Low: counts as removed, not in the rating.
	f.channel(channel{ID: "ch5", ClientID: "cl1", Availability: "ready", Quality: "Low"},
		step{f.ago(9 * day), "ready"}, step{f.ago(2 * day), ""})
	f.channel(channel{ID: "ch6", ClientID: "cl2", Availability: "cancelled", Quality: "Low"}, step{f.ago(5 * day), "error"})
	f.channel(channel{ID: "ch7", ClientID: "cl2", Availability: "inactive"}, step{f.ago(5 * day), "ready"})
	f.channel(channel{ID: "ch8", ClientID: "cl3", Availability: "ready", Quality: "High"},
		step{f.ago(9 * day), "ready"}, step{f.ago(2 * day), ""})

	got := f.rows(`
		SELECT client_id, name, removed, channels_total, channels_ready, channels_error, channels_other_status,
		       channels_setting_up, channels_availability_ready, channels_availability_error, channels_cancelled,
		       channels_inactive, channels_availability_other, channels_removed, worst_quality_rating,
		       max_channels, headroom, last_changed_at
		FROM hub.client_overview ORDER BY client_id`)
	checkRows(t, "client_overview", got, [][]string{
		// total ready error other | setting_up avail_ready avail_error cancelled inactive avail_other | removed
		{"cl1", "Acme", "f", "4", "1", "1", "2", "1", "1", "1", "0", "0", "1", "1", "Medium", "5", "1", ts(f.ago(2 * day))},
		{"cl2", "Beta", "f", "2", "1", "1", "0", "0", "0", "0", "1", "1", "0", "0", "Low", "1", "-1", ts(f.ago(hour))},
		{"cl3", "Gone", "t", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "1", "NULL", "NULL", "NULL", ts(f.ago(2 * day))},
	})
}

// TestViewsKeepPartnersApart: one database may hold several partners, and
// every view answers per partner.
func TestViewsKeepPartnersApart(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.channel(channel{ID: "ch1", ClientID: "cl1"}, step{f.ago(2 * day), "ready"})
	// The same ids under another partner, in another status.
	f.exec(`INSERT INTO hub.clients (partner_id, id, name, status, raw, content_hash) VALUES ('p2', 'cl1', 'Other', 'active', '{}', '\x00')`)
	f.exec(`INSERT INTO hub.channels (partner_id, id, client_id, status, raw, content_hash, first_seen_at) VALUES ('p2', 'ch1', 'cl1', 'error', '{}', '\x00', $1)`, f.ago(2*day))
	f.exec(`INSERT INTO hub.status_history (partner_id, entity, entity_id, client_id, attribute, to_value, changed_at) VALUES ('p2', 'channel', 'ch1', 'cl1', 'status', 'error', $1)`, f.ago(2*day))

	for _, v := range []string{"current_channels", "channel_status_intervals", "daily_channel_status", "client_overview",
		"channel_status_history", "client_status_history", "channel_attribute_history"} {
		got := f.rows(`SELECT count(*) FROM information_schema.columns WHERE table_schema = 'hub' AND table_name = '` + v + `' AND column_name = 'partner_id'`)
		checkRows(t, v+" has partner_id", got, [][]string{{"1"}})
	}
	got := f.rows(`SELECT partner_id, status, channels FROM hub.daily_channel_status
		WHERE day = (now() AT TIME ZONE 'UTC')::date ORDER BY partner_id, status`)
	checkRows(t, "daily_channel_status today", got, [][]string{{"p1", "ready", "1"}, {"p2", "error", "1"}})
}
