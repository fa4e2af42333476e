package analytics_test

import (
	"testing"
	"time"
)

// queryCase seeds a fresh database for one README query and says which rows
// the query must return.
type queryCase struct {
	seed func(f *fixture) (want [][]string)
}

// queryCases are keyed by the query's heading in README.md.
var queryCases = map[string]queryCase{
	"Which channels went from ready to error in the last 24 hours?": {func(f *fixture) [][]string {
		f.client(client{ID: "cl1", Name: "Acme"})
		f.client(client{ID: "cl2", Name: "Beta"})
		f.channel(channel{ID: "ch1", ClientID: "cl1"}, step{f.ago(48 * hour), "ready"}, step{f.ago(3 * hour), "error"})
		// Too long ago.
		f.channel(channel{ID: "ch2", ClientID: "cl2"}, step{f.ago(48 * hour), "ready"}, step{f.ago(30 * hour), "error"})
		// Not from ready.
		f.channel(channel{ID: "ch3", ClientID: "cl1"}, step{f.ago(48 * hour), "created"}, step{f.ago(2 * hour), "error"})
		// Recovered since: still listed.
		f.channel(channel{ID: "ch4", ClientID: "cl2"}, step{f.ago(10 * hour), "ready"}, step{f.ago(5 * hour), "error"},
			step{f.ago(1 * hour), "ready"})
		// Owner not synced yet.
		f.channel(channel{ID: "ch5", ClientID: "cl9"}, step{f.ago(20 * hour), "ready"}, step{f.ago(1 * hour), "error"})
		// A client's status, not a channel's.
		f.history(history{Entity: "client", EntityID: "cl1", ClientID: "cl1", Attribute: "status",
			From: nullString("ready"), To: nullString("error"), At: f.ago(hour)})
		return [][]string{
			{"ch5", "cl9", "NULL", ts(f.ago(1 * hour))},
			{"ch1", "cl1", "Acme", ts(f.ago(3 * hour))},
			{"ch4", "cl2", "Beta", ts(f.ago(5 * hour))},
		}
	}},

	"How long does a channel take to recover from error (error → ready)?": {func(f *fixture) [][]string {
		f.channel(channel{ID: "ch1", ClientID: "cl1"},
			step{f.ago(100 * hour), "ready"}, step{f.ago(50 * hour), "error"}, step{f.ago(46 * hour), "ready"}) // 4h
		f.channel(channel{ID: "ch2", ClientID: "cl1"},
			step{f.ago(30 * hour), "error"}, step{f.ago(24 * hour), "ready"}) // 6h, first seen in error
		f.channel(channel{ID: "ch3", ClientID: "cl1"},
			step{f.ago(20 * hour), "error"}, step{f.ago(19 * hour), "created"}) // not to ready
		f.channel(channel{ID: "ch4", ClientID: "cl1"}, step{f.ago(10 * hour), "error"}) // still in error
		f.channel(channel{ID: "ch5", ClientID: "cl1"},
			step{f.ago(12 * hour), "error"}, step{f.ago(11 * hour), ""}, step{f.ago(5 * hour), "ready"}) // removed, then back
		f.channel(channel{ID: "ch6", ClientID: "cl1"},
			step{f.ago(100 * day), "error"}, step{f.ago(99 * day), "ready"}) // too long ago
		f.channel(channel{ID: "ch7", ClientID: "cl2"},
			step{f.ago(5 * hour), "ready"}, step{f.ago(4 * hour), "error"}, step{f.ago(2 * hour), "ready"}) // 2h
		return [][]string{{"3", "04:00:00", "04:00:00"}}
	}},

	"Which clients' quality rating dropped in the last 7 days?": {func(f *fixture) [][]string {
		f.client(client{ID: "cl1", Name: "Acme"})
		f.client(client{ID: "cl2", Name: "Beta"})
		f.client(client{ID: "cl3", Name: "Gamma"})
		q := "current_quality_rating"
		f.change("ch1", "cl1", q, "High", "Low", f.ago(2*day))
		f.change("ch2", "cl1", q, "High", "Medium", f.ago(1*day))
		f.change("ch2", "cl1", q, "Medium", "Low", f.ago(12*hour))
		f.change("ch3", "cl2", q, "Medium", "High", f.ago(1*day)) // a rise
		f.change("ch4", "cl2", q, "NA", "Low", f.ago(1*day))      // NA is no rating
		f.change("ch5", "cl2", q, "High", "Low", f.ago(10*day))   // too long ago
		f.change("ch7", "cl2", q, "", "Low", f.ago(1*day))        // first sighting
		f.change("ch8", "cl2", "current_limit", "TIER_10K", "TIER_1K", f.ago(1*day))
		f.change("ch6", "cl3", q, "Medium", "Low", f.ago(3*day))
		return [][]string{
			{"cl1", "Acme", "2", "High → Low, High → Medium, Medium → Low", ts(f.ago(12 * hour))},
			{"cl3", "Gamma", "1", "Medium → Low", ts(f.ago(3 * day))},
		}
	}},

	"Which channels have been setting up for more than 7 days?": {func(f *fixture) [][]string {
		f.client(client{ID: "cl1", Name: "Acme"})
		a := "availability_status"
		f.channel(channel{ID: "ch1", ClientID: "cl1", Availability: "setting_up"}, step{f.ago(10*day + hour), "created"})
		f.change("ch1", "cl1", a, "", "setting_up", f.ago(10*day+hour))
		// Not long enough.
		f.channel(channel{ID: "ch2", ClientID: "cl1", Availability: "setting_up"}, step{f.ago(3 * day), "created"})
		f.change("ch2", "cl1", a, "", "setting_up", f.ago(3*day))
		// Done setting up.
		f.channel(channel{ID: "ch3", ClientID: "cl1", Availability: "ready"}, step{f.ago(20 * day), "ready"})
		f.change("ch3", "cl1", a, "", "setting_up", f.ago(20*day))
		f.change("ch3", "cl1", a, "setting_up", "ready", f.ago(2*day))
		// Removed.
		f.channel(channel{ID: "ch4", ClientID: "cl1", Availability: "setting_up"},
			step{f.ago(30 * day), "created"}, step{f.ago(1 * day), ""})
		f.change("ch4", "cl1", a, "", "setting_up", f.ago(30*day))
		// No availability history: since first seen.
		f.channel(channel{ID: "ch5", ClientID: "cl2", Availability: "setting_up"}, step{f.ago(8*day + hour), "created"})
		// Back to setting_up after an error: since the latest change.
		f.channel(channel{ID: "ch6", ClientID: "cl1", Availability: "setting_up"}, step{f.ago(40 * day), "created"})
		f.change("ch6", "cl1", a, "", "setting_up", f.ago(40*day))
		f.change("ch6", "cl1", a, "setting_up", "error", f.ago(20*day))
		f.change("ch6", "cl1", a, "error", "setting_up", f.ago(9*day+2*hour))
		return [][]string{
			{"ch1", "cl1", "Acme", "created", ts(f.ago(10*day + hour)), "10"},
			{"ch6", "cl1", "Acme", "created", ts(f.ago(9*day + 2*hour)), "9"},
			{"ch5", "cl2", "NULL", "created", ts(f.ago(8*day + hour)), "8"},
		}
	}},

	"How many channels were added, returned and removed per week?": {func(f *fixture) [][]string {
		// Monday 00:00 UTC of this week, as date_trunc('week', ...) has it.
		today := f.now.Truncate(day)
		week := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
		w1, w2 := week.AddDate(0, 0, -7), week.AddDate(0, 0, -14)
		f.channel(channel{ID: "ch1", ClientID: "cl1"},
			step{w2.Add(1 * hour), "ready"}, step{w1.Add(1 * hour), ""}, step{w1.Add(2 * hour), "ready"})
		f.channel(channel{ID: "ch2", ClientID: "cl1"}, step{w1.Add(3 * hour), "created"})
		// First seen before the 12 weeks; its removal counts.
		f.channel(channel{ID: "ch3", ClientID: "cl1"},
			step{week.AddDate(0, 0, -7*13), "ready"}, step{w2.Add(2 * hour), ""})
		// A change is neither.
		f.channel(channel{ID: "ch4", ClientID: "cl1"}, step{w2.Add(3 * hour), "ready"}, step{w1.Add(4 * hour), "error"})
		return [][]string{
			{date(w2), "2", "0", "1"},
			{date(w1), "1", "1", "1"},
		}
	}},

	"Which clients are closest to their max_channels?": {func(f *fixture) [][]string {
		f.client(client{ID: "cl1", Name: "Acme", MaxChannels: 5})
		f.client(client{ID: "cl2", Name: "Beta", MaxChannels: 2})
		f.client(client{ID: "cl3", Name: "Gamma", MaxChannels: 10})
		f.client(client{ID: "cl4", Name: "Delta"}) // no max_channels
		f.client(client{ID: "cl5", Name: "Eps", MaxChannels: 1, RemovedAt: f.ago(day)})
		f.client(client{ID: "cl6", Name: "Zeta", MaxChannels: 3})
		for i, c := range []string{"cl1", "cl1", "cl1", "cl1", "cl2", "cl2", "cl2", "cl4", "cl5", "cl5", "cl6", "cl6"} {
			f.channel(channel{ID: "ch" + string(rune('a'+i)), ClientID: c}, step{f.ago(5 * day), "ready"})
		}
		// Removed channels leave room.
		f.channel(channel{ID: "chx", ClientID: "cl6"}, step{f.ago(5 * day), "ready"}, step{f.ago(day), ""})
		f.channel(channel{ID: "chy", ClientID: "cl6"}, step{f.ago(5 * day), "ready"}, step{f.ago(day), ""})
		return [][]string{
			{"cl2", "Beta", "3", "2", "-1"},
			{"cl1", "Acme", "4", "5", "1"},
			{"cl6", "Zeta", "2", "3", "1"},
			{"cl3", "Gamma", "0", "10", "10"},
		}
	}},

	"What is the status mix today?": {func(f *fixture) [][]string {
		for i := range 4 {
			f.channel(channel{ID: "r" + string(rune('0'+i)), ClientID: "cl1"}, step{f.ago(3 * day), "created"},
				step{f.ago(2 * day), "ready"})
		}
		f.channel(channel{ID: "e1", ClientID: "cl1"}, step{f.ago(3 * day), "error"})
		f.channel(channel{ID: "e2", ClientID: "cl1"}, step{f.ago(3 * day), "ready"}, step{f.ago(2 * hour), "error"})
		f.channel(channel{ID: "c1", ClientID: "cl1"}, step{f.ago(hour), "created"})
		f.channel(channel{ID: "gone", ClientID: "cl1"}, step{f.ago(3 * day), "ready"}, step{f.ago(hour), ""})
		return [][]string{
			{"p1", "ready", "4", "57.1"},
			{"p1", "error", "2", "28.6"},
			{"p1", "created", "1", "14.3"},
		}
	}},

	"Which clients have all their channels in error?": {func(f *fixture) [][]string {
		f.client(client{ID: "cl1", Name: "Acme"})
		f.client(client{ID: "cl2", Name: "Beta"})
		f.client(client{ID: "cl3", Name: "Gamma"})
		f.client(client{ID: "cl4", Name: "Delta", Email: "ops@delta.example"})
		f.client(client{ID: "cl5", Name: "Eps", RemovedAt: f.ago(day)})
		f.channel(channel{ID: "ch1", ClientID: "cl1"}, step{f.ago(day), "error"})
		f.channel(channel{ID: "ch2", ClientID: "cl1"}, step{f.ago(2 * day), "ready"}, step{f.ago(day), "error"})
		f.channel(channel{ID: "ch3", ClientID: "cl2"}, step{f.ago(day), "error"})
		f.channel(channel{ID: "ch4", ClientID: "cl2"}, step{f.ago(day), "ready"})
		f.channel(channel{ID: "ch5", ClientID: "cl4"}, step{f.ago(day), "error"})
		f.channel(channel{ID: "ch6", ClientID: "cl4"}, step{f.ago(2 * day), "ready"}, step{f.ago(day), ""})
		f.channel(channel{ID: "ch7", ClientID: "cl5"}, step{f.ago(day), "error"})
		return [][]string{
			{"cl1", "Acme", "cl1@example.com", "2"},
			{"cl4", "Delta", "ops@delta.example", "1"},
		}
	}},

	"Which channels have been in error the longest?": {func(f *fixture) [][]string {
		f.client(client{ID: "cl1", Name: "Acme"})
		f.channel(channel{ID: "ch1", ClientID: "cl1"}, step{f.ago(10 * day), "ready"}, step{f.ago(5*day + 2*hour), "error"})
		f.channel(channel{ID: "ch2", ClientID: "cl1"}, step{f.ago(2*day + hour), "error"})
		f.channel(channel{ID: "ch3", ClientID: "cl1"}, step{f.ago(9 * day), "ready"})
		f.channel(channel{ID: "ch4", ClientID: "cl1"}, step{f.ago(9 * day), "error"}, step{f.ago(3 * hour), ""})
		f.channel(channel{ID: "ch5", ClientID: "cl9"}, step{f.ago(hour), "error"})
		return [][]string{
			{"ch1", "cl1", "Acme", "cl1@example.com", ts(f.ago(5*day + 2*hour)), "5"},
			{"ch2", "cl1", "Acme", "cl1@example.com", ts(f.ago(2*day + hour)), "2"},
			{"ch5", "cl9", "NULL", "NULL", ts(f.ago(hour)), "0"},
		}
	}},

	"Which channels moved to another client in the last 30 days?": {func(f *fixture) [][]string {
		f.client(client{ID: "cl1", Name: "Acme"})
		f.client(client{ID: "cl2", Name: "Beta"})
		f.change("ch1", "cl2", "client_id", "cl1", "cl2", f.ago(2*day))
		f.change("ch2", "cl9", "client_id", "cl2", "cl9", f.ago(1*day))
		f.change("ch3", "cl3", "client_id", "cl1", "cl3", f.ago(40*day))
		f.change("ch4", "cl1", "status", "ready", "error", f.ago(1*day))
		return [][]string{
			{"ch2", "cl2", "Beta", "cl9", "NULL", ts(f.ago(1 * day))},
			{"ch1", "cl1", "Acme", "cl2", "Beta", ts(f.ago(2 * day))},
		}
	}},

	"How did the last sync runs end?": {func(f *fixture) [][]string {
		f.run(run{StartedAt: f.ago(45 * time.Minute), Took: 40 * time.Second, Status: "succeeded", Complete: true,
			Clients: 10, Channels: 25, Transition: 3, Requests: 12, Retries: 1})
		f.run(run{StartedAt: f.ago(30 * time.Minute), Took: 5 * time.Second, Status: "failed",
			Requests: 3, Retries: 3, Error: "list clients page 1: HTTP 503"})
		f.run(run{StartedAt: f.ago(time.Minute), Status: "running", Clients: 4, Requests: 1})
		return [][]string{
			{"3", ts(f.ago(time.Minute)), "NULL", "running", "f", "4", "0", "0", "1", "0", "NULL"},
			{"2", ts(f.ago(30 * time.Minute)), "00:00:05", "failed", "f", "0", "0", "0", "3", "3", "list clients page 1: HTTP 503"},
			{"1", ts(f.ago(45 * time.Minute)), "00:00:40", "succeeded", "t", "10", "25", "3", "12", "1", "NULL"},
		}
	}},

	"Which values outside the documented enums did syncs see in the last 30 days?": {func(f *fixture) [][]string {
		f.run(run{StartedAt: f.ago(10 * day), Took: time.Minute, Status: "succeeded",
			Unknown: `{"status=pending_x": 2, "availability_status=paused": 1}`})
		f.run(run{StartedAt: f.ago(1 * day), Took: time.Minute, Status: "succeeded", Unknown: `{"status=pending_x": 3}`})
		f.run(run{StartedAt: f.ago(40 * day), Took: time.Minute, Status: "succeeded", Unknown: `{"status=old": 5}`})
		f.run(run{StartedAt: f.ago(2 * hour), Took: time.Minute, Status: "succeeded", Unknown: `{"current_limit=TIER=X": 1}`})
		f.run(run{StartedAt: f.ago(1 * hour), Took: time.Minute, Status: "succeeded"})
		return [][]string{
			{"current_limit", "TIER=X", "1", "1", ts(f.ago(2 * hour)), ts(f.ago(2 * hour))},
			{"status", "pending_x", "5", "2", ts(f.ago(10 * day)), ts(f.ago(1 * day))},
			{"availability_status", "paused", "1", "1", ts(f.ago(10 * day)), ts(f.ago(10 * day))},
		}
	}},
}

// TestReadmeQueries runs every example query of the README against seeded
// rows: what analysts copy is what is tested.
func TestReadmeQueries(t *testing.T) {
	t.Parallel()
	queries := readme(t)
	if len(queries) < 10 {
		t.Errorf("README has %d example queries, want at least 10", len(queries))
	}
	inReadme := map[string]bool{}
	for _, q := range queries {
		inReadme[q.Title] = true
		c, ok := queryCases[q.Title]
		if !ok {
			t.Errorf("README query %q has no test case in queryCases", q.Title)
			continue
		}
		t.Run(q.Title, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			want := c.seed(f)
			checkRows(t, q.Title, f.rows(q.SQL), want)
		})
	}
	for title := range queryCases {
		if !inReadme[title] {
			t.Errorf("test case %q matches no query heading in README.md", title)
		}
	}
}
