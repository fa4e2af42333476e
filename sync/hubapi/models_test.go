package hubapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-03-01T10:20:30Z", utc(2024, 3, 1, 10, 20, 30, 0), true},
		{"2024-03-01T10:20:30.123456Z", utc(2024, 3, 1, 10, 20, 30, 123456000), true},
		{"2024-03-01T12:20:30+02:00", utc(2024, 3, 1, 10, 20, 30, 0), true},
		{"2024-03-01T12:20:30.5+02:00", utc(2024, 3, 1, 10, 20, 30, 500000000), true},
		{"2024-03-01T12:20:30+0200", utc(2024, 3, 1, 10, 20, 30, 0), true},
		{"2024-03-01T12:20:30+02", utc(2024, 3, 1, 10, 20, 30, 0), true},
		{"2024-03-01T10:20:30", utc(2024, 3, 1, 10, 20, 30, 0), true},
		{"2024-03-01T10:20:30.987654", utc(2024, 3, 1, 10, 20, 30, 987654000), true},
		{"2024-03-01 10:20:30", utc(2024, 3, 1, 10, 20, 30, 0), true},
		{"2024-03-01 10:20:30.25", utc(2024, 3, 1, 10, 20, 30, 250000000), true},
		{"2024-03-01 12:20:30+02:00", utc(2024, 3, 1, 10, 20, 30, 0), true},
		{"2024-03-01 12:20:30.1+02:00", utc(2024, 3, 1, 10, 20, 30, 100000000), true},
		{"2024-03-01 10:20:30Z", utc(2024, 3, 1, 10, 20, 30, 0), true},
		{"2024-03-01 10:20:30 UTC", utc(2024, 3, 1, 10, 20, 30, 0), true},
		{"2024-03-01", utc(2024, 3, 1, 0, 0, 0, 0), true},
		{"  2024-03-01T10:20:30Z ", utc(2024, 3, 1, 10, 20, 30, 0), true},
		{"", time.Time{}, false},
		{"   ", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"2024-13-01T10:20:30Z", time.Time{}, false},
		{"2024-03-01T25:20:30Z", time.Time{}, false},
		{"1709288430", time.Time{}, false},
		{"01/03/2024", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseTime(tt.in)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q): expected (%v, %v), got (%v, %v)", tt.in, tt.want, tt.ok, got, ok)
		}
		if ok && got.Location() != time.UTC {
			t.Errorf("ParseTime(%q): expected a UTC time, got location %v", tt.in, got.Location())
		}
	}
}

func TestPartnerClientKeepsRawAndUnknownFields(t *testing.T) {
	t.Parallel()
	in := `{
		"id": "c1",
		"name": "Acme",
		"status": "brand_new_status",
		"max_channels": 3,
		"fb_business_id": null,
		"created_by": {"user_id": "u1"},
		"contact_info": {"email": "a@example.com", "future_field": 1},
		"shiny_new_field": {"nested": [1, 2, 3]}
	}`
	var pc PartnerClient
	if err := json.Unmarshal([]byte(in), &pc); err != nil {
		t.Fatalf("unmarshal: expected no error, got %v", err)
	}
	wantRaw := `{"id":"c1","name":"Acme","status":"brand_new_status","max_channels":3,"fb_business_id":null,"created_by":{"user_id":"u1"},"contact_info":{"email":"a@example.com","future_field":1},"shiny_new_field":{"nested":[1,2,3]}}`
	if string(pc.Raw) != wantRaw {
		t.Errorf("Raw: expected %s, got %s", wantRaw, pc.Raw)
	}
	if pc.ID != "c1" || deref(pc.Name) != "Acme" || deref(pc.Status) != "brand_new_status" {
		t.Errorf("typed fields: expected c1/Acme/brand_new_status, got %q/%q/%q", pc.ID, deref(pc.Name), deref(pc.Status))
	}
	if pc.MaxChannels == nil || *pc.MaxChannels != 3 {
		t.Errorf("MaxChannels: expected 3, got %v", pc.MaxChannels)
	}
	if pc.FBBusinessID != nil {
		t.Errorf("FBBusinessID: expected nil for null, got %q", *pc.FBBusinessID)
	}
	if pc.PartnerPayload != nil {
		t.Errorf("PartnerPayload: expected nil when absent, got %q", *pc.PartnerPayload)
	}
	if string(pc.CreatedBy) != `{"user_id":"u1"}` {
		t.Errorf("CreatedBy: expected {\"user_id\":\"u1\"}, got %s", pc.CreatedBy)
	}
	if pc.ContactInfo == nil || deref(pc.ContactInfo.Email) != "a@example.com" {
		t.Errorf("ContactInfo.Email: expected a@example.com, got %+v", pc.ContactInfo)
	}
	// Marshalling the typed value must not leak Raw as a field.
	out, err := json.Marshal(pc)
	if err != nil {
		t.Fatalf("marshal: expected no error, got %v", err)
	}
	if strings.Contains(string(out), "Raw") || strings.Contains(string(out), "shiny_new_field") {
		t.Errorf("marshal: expected only typed fields, got %s", out)
	}
}

func TestChannelDecodesNestedFields(t *testing.T) {
	t.Parallel()
	in := `{"id":"ch1","client_id":"c1","status":"ready","availability_status":null,
		"is_oba":true,"version":2,
		"settings":{"tier":"t1","throughput":{"level":"standard"}},
		"setup_info":{"phone_number":"+4930123","ivr":false,"verification_method":"sms"}}`
	var ch Channel
	if err := json.Unmarshal([]byte(in), &ch); err != nil {
		t.Fatalf("unmarshal: expected no error, got %v", err)
	}
	if ch.AvailabilityStatus != nil {
		t.Errorf("AvailabilityStatus: expected nil for null, got %q", *ch.AvailabilityStatus)
	}
	if ch.IsOBA == nil || !*ch.IsOBA || ch.Version == nil || *ch.Version != 2 {
		t.Errorf("IsOBA/Version: expected true/2, got %v/%v", ch.IsOBA, ch.Version)
	}
	if ch.Settings == nil || ch.Settings.Throughput == nil || deref(ch.Settings.Throughput.Level) != "standard" {
		t.Errorf("Settings.Throughput.Level: expected standard, got %+v", ch.Settings)
	}
	if ch.SetupInfo == nil || deref(ch.SetupInfo.PhoneNumber) != "+4930123" || ch.SetupInfo.IVR == nil || *ch.SetupInfo.IVR {
		t.Errorf("SetupInfo: expected +4930123 and ivr=false, got %+v", ch.SetupInfo)
	}
	var bad Channel
	err := json.Unmarshal([]byte(`{"id":"ch2","is_oba":"yes"}`), &bad)
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		t.Errorf("wrong type: expected *json.UnmarshalTypeError, got %v", err)
	}
}

func TestKnownEnums(t *testing.T) {
	t.Parallel()
	checks := []struct {
		name string
		fn   func(string) bool
		yes  string
		no   string
	}{
		{"channel status", IsKnownChannelStatus, "ready", "exploded"},
		{"availability", IsKnownAvailabilityStatus, "setting_up", "Ready"},
		{"hub status", IsKnownHubStatus, "pending_deletion", "gone"},
		{"current limit", IsKnownCurrentLimit, "TIER_UNLIMITED", "TIER_3"},
		{"quality", IsKnownQualityRating, "Medium", "medium"},
	}
	for _, c := range checks {
		if !c.fn(c.yes) {
			t.Errorf("%s: expected %q known, got unknown", c.name, c.yes)
		}
		if c.fn(c.no) {
			t.Errorf("%s: expected %q unknown, got known", c.name, c.no)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 1 ", time.Second},
		{"0", 0},
		{"-5", 0},
		{"NaN", 0},
		{"1.5", 1500 * time.Millisecond},
		{"999999999", maxRetryAfter},
		{"Fri, 01 Mar 2024 10:00:07 GMT", 7 * time.Second},
		{"Fri, 01 Mar 2024 09:59:00 GMT", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q): expected %v, got %v", tt.in, tt.want, got)
		}
	}
}

func TestSnippet(t *testing.T) {
	t.Parallel()
	if got := snippet([]byte("<html>\n  <b>Bad   Gateway</b>\n</html>"), 200); got != "<html> <b>Bad Gateway</b> </html>" {
		t.Errorf("snippet: expected whitespace collapsed to one line, got %q", got)
	}
	got := snippet([]byte(strings.Repeat("é", 150)), 201) // 201 bytes cuts a 2-byte rune
	if want := strings.Repeat("é", 100) + "…"; got != want {
		t.Errorf("snippet: expected 100 runes and an ellipsis, got %q", got)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
