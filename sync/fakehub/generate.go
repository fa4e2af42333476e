package fakehub

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Documented enum values of ChannelPublicPayloadOut and friends.
var (
	// ChannelStatuses are the documented values of a channel's status.
	ChannelStatuses = []string{
		"created", "unverified", "verified", "ready", "transferred", "modified",
		"imported", "new_name_requested", "certificate_declined",
		"consents_signed", "error", "porting_ready", "ready_for_migration",
		"waiting_for_migration_code", "migration_code_requested",
		"migration_verified", "unregistered", "removed",
	}
	// AvailabilityStatuses are the documented values of a channel's
	// availability_status (which may also be null).
	AvailabilityStatuses = []string{"setting_up", "ready", "error", "cancelled", "inactive"}
	// HubStatuses are the documented values of a channel's hub_status.
	HubStatuses = []string{"live", "sandbox", "done", "pending", "draft", "pending_deletion", "unregistered", "unknown"}
	// Limits are the values of a channel's current_limit.
	Limits = []string{"NA", "TIER_50", "TIER_250", "TIER_1K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"}
	// QualityRatings are the values of a channel's current_quality_rating.
	QualityRatings = []string{"NA", "Low", "Medium", "High"}
	// ClientStatuses are the client statuses the generator uses (the spec
	// leaves client status an open string).
	ClientStatuses = []string{"active", "pending", "inactive", "suspended"}
)

// weighted picks an index by integer weights.
func weighted(r *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// chance is true with probability p.
func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

var statusWeights = map[string]int{
	"ready": 800, "created": 20, "unverified": 15, "verified": 10, "error": 25,
	"transferred": 15, "removed": 20, "new_name_requested": 8,
	"certificate_declined": 6, "modified": 3, "imported": 3,
	"consents_signed": 2, "porting_ready": 2, "ready_for_migration": 2,
	"waiting_for_migration_code": 2, "migration_code_requested": 2,
	"migration_verified": 2, "unregistered": 3,
}

var statusWeightList = func() []int {
	w := make([]int, len(ChannelStatuses))
	for i, s := range ChannelStatuses {
		w[i] = statusWeights[s]
	}
	return w
}()

// statusGroup maps a channel status to the availability it implies.
func statusGroup(status string) string {
	switch status {
	case "ready", "new_name_requested", "modified", "imported":
		return "ready"
	case "error", "certificate_declined", "unregistered":
		return "error"
	case "transferred", "removed":
		return "inactive"
	default:
		return "setting_up"
	}
}

// Variants of a ready channel's lifecycle, so that every availability and
// hub status shows up with consistent timestamps.
const (
	vPlain     = iota
	vDone      // hub_status "done" (deprecated synonym of live)
	vPending   // setting up on the (on-prem) "pending" hub status
	vCancelled // cancelled_at set, terminated_at in the future or null
	vInactive  // terminated_at in the past
	vLegacy    // availability_status null, sandbox account
)

const day = int64(24 * time.Hour / time.Microsecond)

// settle makes availability_status, hub_status, account_mode and the
// cancel/terminate timestamps consistent with the status and variant.
func settle(ch *channel, r *rand.Rand, now int64, variant int) {
	ch.cancelledAt, ch.terminated = stamp{}, stamp{}
	ch.accountMode = "live"
	since := max(now-ch.createdAt.us, day)
	past := func() int64 { return ch.createdAt.us + r.Int64N(since) }
	switch statusGroup(ch.status) {
	case "ready":
		ch.availStatus, ch.hubStatus = some("ready"), "live"
		if ch.status == "modified" || ch.status == "imported" || variant == vDone {
			ch.hubStatus = "done"
		}
		switch variant {
		case vCancelled:
			c := max(now-r.Int64N(20*day), ch.createdAt.us)
			ch.cancelledAt = at(c, randFormat(r))
			if chance(r, 0.6) {
				ch.terminated = at(now+r.Int64N(25*day)+day, randFormat(r)) // scheduled
			}
			ch.availStatus, ch.hubStatus = some("cancelled"), "pending_deletion"
		case vInactive:
			t := past()
			ch.cancelledAt = at(max(t-30*day, ch.createdAt.us), randFormat(r))
			ch.terminated = at(t, randFormat(r))
			ch.availStatus, ch.hubStatus = some("inactive"), "unknown"
		case vLegacy:
			ch.availStatus, ch.hubStatus, ch.accountMode = optString{}, "sandbox", "sandbox"
		}
	case "setting_up":
		ch.availStatus, ch.hubStatus = some("setting_up"), "draft"
		if variant == vPending {
			ch.hubStatus = "pending"
		}
	case "error":
		ch.availStatus, ch.hubStatus = some("error"), "unknown"
		if ch.status == "unregistered" {
			ch.hubStatus = "unregistered"
		}
	case "inactive":
		t := past()
		if chance(r, 0.5) {
			ch.cancelledAt = at(max(t-30*day, ch.createdAt.us), randFormat(r))
		}
		ch.terminated = at(t, randFormat(r))
		ch.availStatus, ch.hubStatus = some("inactive"), "unknown"
	}
	if statusGroup(ch.status) == "setting_up" {
		ch.limit, ch.quality = "NA", "NA"
	}
}

func randFormat(r *rand.Rand) uint8 {
	return uint8(weighted(r, []int{35, 25, 15, 15, 5, 5}))
}

// place bundles consistent address data.
type place struct {
	city, country, tz, lang, dial string
	digits                        int
	streets                       []string
	zip                           string // '#' is a digit; "" means no zip code
	legal                         []string
}

var places = []place{
	{"Berlin", "DE", "Europe/Berlin", "de", "49", 11, []string{"Friedrichstraße", "Torstraße", "Kastanienallee"}, "1####", []string{"GmbH", "GmbH & Co. KG", "UG (haftungsbeschränkt)"}},
	{"München", "DE", "Europe/Berlin", "de", "49", 11, []string{"Maximilianstraße", "Leopoldstraße"}, "8####", []string{"GmbH", "AG", "e.K."}},
	{"Wien", "AT", "Europe/Vienna", "de", "43", 10, []string{"Mariahilfer Straße", "Kärntner Straße"}, "1###", []string{"GmbH", "OG"}},
	{"Zürich", "CH", "Europe/Zurich", "de", "41", 9, []string{"Bahnhofstrasse", "Langstrasse"}, "80##", []string{"AG", "GmbH"}},
	{"São Paulo", "BR", "America/Sao_Paulo", "pt", "55", 11, []string{"Avenida Paulista", "Rua Augusta", "Rua Oscar Freire"}, "0####-###", []string{"Ltda.", "S.A.", "ME"}},
	{"Rio de Janeiro", "BR", "America/Sao_Paulo", "pt", "55", 11, []string{"Rua Visconde de Pirajá", "Avenida Atlântica"}, "2####-###", []string{"Ltda.", "EIRELI"}},
	{"Tokyo", "JP", "Asia/Tokyo", "ja", "81", 10, []string{"渋谷区神南", "Chuo-dori", "表参道"}, "1##-####", []string{"株式会社", "合同会社"}},
	{"Madrid", "ES", "Europe/Madrid", "es", "34", 9, []string{"Calle de Alcalá", "Gran Vía"}, "28###", []string{"S.L.", "S.A."}},
	{"Barcelona", "ES", "Europe/Madrid", "es", "34", 9, []string{"Carrer de Mallorca", "La Rambla"}, "08###", []string{"S.L.", "S.L.U."}},
	{"Paris", "FR", "Europe/Paris", "fr", "33", 9, []string{"Rue de Rivoli", "Boulevard Saint-Germain"}, "750##", []string{"SARL", "SAS"}},
	{"London", "GB", "Europe/London", "en", "44", 10, []string{"Baker Street", "Shoreditch High Street"}, "EC1A #BB", []string{"Ltd", "LLP", "PLC"}},
	{"New York", "US", "America/New_York", "en", "1", 10, []string{"Broadway", "5th Avenue"}, "100##", []string{"LLC", "Inc.", "Corp."}},
	{"Austin", "US", "America/Chicago", "en", "1", 10, []string{"Congress Avenue", "South Lamar Blvd"}, "787##", []string{"LLC", "Inc."}},
	{"Ciudad de México", "MX", "America/Mexico_City", "es", "52", 10, []string{"Paseo de la Reforma", "Avenida Insurgentes"}, "06###", []string{"S.A. de C.V.", "S. de R.L."}},
	{"Dubai", "AE", "Asia/Dubai", "ar", "971", 9, []string{"Sheikh Zayed Road", "Al Wasl Road"}, "", []string{"LLC", "FZE"}},
	{"Mumbai", "IN", "Asia/Kolkata", "en", "91", 10, []string{"Linking Road", "Marine Drive"}, "400###", []string{"Pvt Ltd", "LLP"}},
	{"Lagos", "NG", "Africa/Lagos", "en", "234", 10, []string{"Allen Avenue", "Admiralty Way"}, "100###", []string{"Ltd", "Enterprises"}},
	{"İstanbul", "TR", "Europe/Istanbul", "tr", "90", 10, []string{"İstiklal Caddesi", "Bağdat Caddesi"}, "34###", []string{"A.Ş.", "Ltd. Şti."}},
	{"Kraków", "PL", "Europe/Warsaw", "pl", "48", 9, []string{"ulica Floriańska", "ulica Długa"}, "31-###", []string{"Sp. z o.o.", "S.A."}},
	{"Jakarta", "ID", "Asia/Jakarta", "id", "62", 11, []string{"Jalan Sudirman", "Jalan Thamrin"}, "10###", []string{"PT", "CV"}},
	{"Amsterdam", "NL", "Europe/Amsterdam", "nl", "31", 9, []string{"Prinsengracht", "Damrak"}, "10## AB", []string{"B.V.", "V.O.F."}},
	{"Tel Aviv", "IL", "Asia/Jerusalem", "he", "972", 9, []string{"Rothschild Boulevard", "Dizengoff Street"}, "6######", []string{"Ltd"}},
}

var (
	firstNames = []string{"Anna", "Lukas", "María", "José", "Søren", "Zoë", "Łukasz", "Yuki", "Aigerim", "Oluwaseun", "Siobhán", "François", "Björn", "Chloé", "Mehmet", "Priya", "Nguyễn", "João", "Fatima", "Noah", "Emma", "Mateo", "Sakura", "Ahmed", "Olga", "Liam", "Ines", "Kwame", "Hannah", "Răzvan"}
	lastNames  = []string{"Müller", "Schmidt", "García", "Silva", "Nakamura", "Kowalski", "O'Brien", "Dubois", "Rossi", "Jensen", "Öztürk", "Patel", "Nguyen", "Ivanova", "Fischer", "Santos", "Yılmaz", "Cohen", "Okafor", "Smith", "van der Berg", "Wagner", "Fernández", "Kim", "Lindqvist", "Bauer", "Costa", "Haddad", "Novak", "Schäfer"}
	businesses = []string{"Bakery", "Café", "Dental Clinic", "Motors", "Logistics", "Fashion", "Travel", "Pizzeria", "Apotheke", "Studio", "Immobilien", "Tech", "Solutions", "Boutique", "Fitness", "Hotel", "Florist", "Optik", "Autohaus", "Bistro", "Consulting", "Insurance", "Pet Shop", "Academy", "Brewery", "Market", "Pharma", "Realty", "Electronics", "Yoga"}
	adjectives = []string{"Golden", "Blue", "Happy", "Urban", "Green", "Royal", "Smart", "Little", "Bright", "Wild", "Nordic", "Sunny"}
	emojis     = []string{"🍕", "🌸", "🚀", "☕", "🛍️", "💇‍♀️", "🐶", "🏋️", "🍣", "✨"}
	jpWords    = []string{"さくら", "ひかり", "山田商事", "東京フーズ", "みどり薬局", "富士トラベル"}
	// specialNames exercise escaping and unicode handling downstream.
	specialNames = []string{
		"Müller & Söhne GmbH", "Café São Paulo", "株式会社さくら", "🍕 Pizza Planet",
		"Zoë's Flower Studio 🌸", `Smith "Bros" & Co <Ltd>`, "Ресторан «Москва»",
		"مطعم الشام", "Ñandú Viajes S.L.", "Łódź Logistics Sp. z o.o.",
		"Đà Nẵng Travel Co.", `Back\slash Records`, "Ålesund Fisk AS",
		" Leading Space Trading", "Line\nBreak Ventures", "👩‍💻 DevShop",
		"Crème Brûlée Pâtisserie", "İzmir Kebap Evi", "שלום Shalom Foods",
		"100% Bio-Läden e.V.",
	}
	verticals = []string{"AUTO", "BEAUTY", "APPAREL", "EDU", "ENTERTAIN", "EVENT_PLAN", "FINANCE", "GROCERY", "GOVT", "HOTEL", "HEALTH", "NONPROFIT", "PROF_SERVICES", "RETAIL", "TRAVEL", "RESTAURANT", "OTHER"}
	useCases  = []string{"customer_support", "marketing", "notifications", "sales", "authentication", "commerce"}
	abouts    = []string{"Hey there! I am using WhatsApp.", "Fresh bread every morning 🥐", "Support Mon–Fri 9–18", "Wir sind für Sie da!", "Atendimento de seg. a sex.", "お問い合わせはこちら", "Official account", "24/7 service ✅", ""}
	tiers     = []string{"regular", "premium", "basic"}
	regions   = []string{"DE", "IN", "ID", "JP", "SG", "CH", "GB", "BR", "AU", "CA"}
	events    = []string{"FLAGGED", "UNFLAGGED", "ONBOARDING", "UPGRADE", "DOWNGRADE"}
	languages = []string{"en", "en_US", "de", "pt_BR", "es", "fr", "it", "ja", "ar", "tr"}
	payloads  = []string{"crm:%d", "tier-2", "", `{"plan":"gold","ref":%d}`, "Kunde Nr. %d – Ü", "ref_%d"}
	domains   = map[string]string{"DE": "de", "AT": "at", "CH": "ch", "BR": "com.br", "JP": "jp", "ES": "es", "FR": "fr", "GB": "co.uk", "US": "com", "MX": "com.mx", "AE": "ae", "IN": "in", "NG": "ng", "TR": "com.tr", "PL": "pl", "ID": "co.id", "NL": "nl", "IL": "co.il"}
)

// asciiFold turns a name into something usable in an email address.
func asciiFold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '&' || r == '.':
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
				b.WriteByte('-')
			}
		default:
			if f, ok := folds[r]; ok {
				b.WriteString(f)
			}
		}
	}
	return strings.Trim(b.String(), "-")
}

var folds = map[rune]string{
	'ä': "a", 'á': "a", 'à': "a", 'â': "a", 'ã': "a", 'å': "a", 'ö': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ø': "o",
	'ü': "u", 'ú': "u", 'ß': "ss", 'é': "e", 'è': "e", 'ê': "e", 'ë': "e", 'í': "i", 'ı': "i", 'i': "i", 'ç': "c",
	'ñ': "n", 'ł': "l", 'ş': "s", 'ğ': "g", 'ă': "a", 'ễ': "e", 'đ': "d", 'ą': "a", 'ę': "e", 'ń': "n", 'ś': "s",
}

func digits(r *rand.Rand, b []byte, n int) []byte {
	for i := range n {
		d := r.IntN(10)
		if i == 0 && d == 0 {
			d = 1 + r.IntN(9)
		}
		b = append(b, byte('0'+d))
	}
	return b
}

func phone(r *rand.Rand, p place) string {
	b := make([]byte, 0, 16)
	b = append(b, '+')
	b = append(b, p.dial...)
	return string(digits(r, b, p.digits))
}

// sloppyPhone writes a phone number the way people type it into forms.
func sloppyPhone(r *rand.Rand, p place) string {
	e164 := phone(r, p)
	if !chance(r, 0.3) {
		return e164
	}
	cut := 1 + len(p.dial)
	return e164[:cut] + " " + e164[cut:cut+3] + " " + e164[cut+3:]
}

func zip(r *rand.Rand, p place) optString {
	if p.zip == "" || chance(r, 0.2) {
		return optString{}
	}
	b := []byte(p.zip)
	for i, c := range b {
		if c == '#' {
			b[i] = byte('0' + r.IntN(10))
		}
	}
	return some(string(b))
}

func companyName(r *rand.Rand, p place) string {
	last, word := pick(r, lastNames), pick(r, businesses)
	switch r.IntN(20) {
	case 0, 1:
		return pick(r, specialNames)
	case 2, 3, 4:
		return last + " " + word
	case 5, 6:
		return last + " & " + pick(r, lastNames) + " " + pick(r, p.legal)
	case 7, 8:
		return word + " " + p.city
	case 9:
		return pick(r, adjectives) + " " + word + " " + pick(r, p.legal)
	case 10:
		if p.country == "JP" {
			return "株式会社" + pick(r, jpWords)
		}
		if p.country == "ID" {
			return "PT " + last + " " + word
		}
		return last + " " + word
	case 11:
		return pick(r, emojis) + " " + pick(r, adjectives) + " " + word
	default:
		return last + " " + word + " " + pick(r, p.legal)
	}
}

func personName(r *rand.Rand) string { return pick(r, firstNames) + " " + pick(r, lastNames) }

func opt(r *rand.Rand, pNull float64, s string) optString {
	if chance(r, pNull) {
		return optString{}
	}
	return some(s)
}

// poisson draws a count with the given mean.
func poisson(r *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

const idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newID returns an unused id in 360dialog's shape: eight alphanumerics and a
// type suffix ("CL" for clients, "CH" for channels). Callers hold s.mu.
func (s *Server) newID(r *rand.Rand, suffix string) string {
	var b [10]byte
	for {
		for i := range 8 {
			b[i] = idChars[r.IntN(len(idChars))]
		}
		copy(b[8:], suffix)
		id := string(b[:])
		_, c := s.clients[id]
		_, ch := s.channels[id]
		_, old := s.retired[id]
		if !c && !ch && !old {
			return id
		}
	}
}

var (
	genStart = time.Date(2019, time.March, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	userW    = []int{5, 15, 12, 12, 10, 10, 10, 16, 5, 5}
)

// buildClient generates a client created at createdUS. It is not indexed.
func (s *Server) buildClient(r *rand.Rand, createdUS, now int64) *client {
	p := pick(r, places)
	c := &client{
		id:     s.newID(r, "CL"),
		status: ClientStatuses[weighted(r, []int{86, 6, 5, 3})],
	}
	c.name = companyName(r, p)
	slug := asciiFold(c.name)
	if utf8.RuneCountInString(slug) < 3 {
		slug = "client-" + strings.ToLower(c.id[:5])
	}
	domain := slug + "." + domains[p.country]
	if chance(r, 0.4) {
		c.organisation = some(c.name)
	}
	if !chance(r, 0.4) {
		f := pick(r, payloads)
		if strings.Contains(f, "%d") {
			f = strings.Replace(f, "%d", strconv.Itoa(1000+r.IntN(900000)), 1)
		}
		c.partnerPayload = some(f)
	}
	if !chance(r, 0.25) {
		c.fbBusinessID = some(string(digits(r, nil, 15+r.IntN(2))))
	}
	c.createdAt = at(createdUS, randFormat(r))
	c.modifiedAt = at(createdUS+r.Int64N(max(now-createdUS, 1)), randFormat(r))
	if chance(r, 0.2) {
		c.modifiedAt = at(createdUS, c.createdAt.f) // never modified
	}
	c.createdBy = uint8(weighted(r, userW))
	c.modifiedBy = uint8(weighted(r, userW))
	c.suspicious = chance(r, 0.02)
	c.chatSupport = chance(r, 0.3)

	contact := personName(r)
	c.meta.vertical = opt(r, 0.2, pick(r, verticals))
	c.meta.timezone = opt(r, 0.15, p.tz)
	c.meta.about = opt(r, 0.4, pick(r, abouts))
	if !chance(r, 0.5) {
		c.meta.description = some(c.name + " – " + strings.ToLower(pick(r, businesses)) + " in " + p.city + ".")
	}
	c.meta.useCase = opt(r, 0.3, pick(r, useCases))

	c.contact.email = opt(r, 0.1, pick(r, []string{"info@", "hello@", "kontakt@", "support@"})+domain)
	if !chance(r, 0.3) {
		url := "https://www." + domain
		if chance(r, 0.1) {
			url = "www." + domain // as typed into the onboarding form
		}
		c.contact.webpage = some(url)
	}
	if !chance(r, 0.2) {
		c.contact.phone = some(sloppyPhone(r, p))
	}
	c.contact.language = opt(r, 0.15, p.lang)
	c.contact.country = opt(r, 0.1, p.country)
	if !chance(r, 0.2) {
		c.contact.street = some(pick(r, p.streets) + " " + strconv.Itoa(1+r.IntN(180)))
	}
	c.contact.city = opt(r, 0.15, p.city)
	c.contact.fullName = opt(r, 0.3, contact)
	c.contact.zip = zip(r, p)

	c.person.name = opt(r, 0.1, contact)
	if !chance(r, 0.15) {
		c.person.email = some(asciiFold(strings.ReplaceAll(contact, " ", ".")) + "@" + domain)
	}
	if !chance(r, 0.25) {
		c.person.phone = some(phone(r, p))
	}
	return c
}

// buildChannel generates a channel for owner created at createdUS, with the
// given status. It is not indexed.
func (s *Server) buildChannel(r *rand.Rand, owner *client, createdUS, now int64, status string, variant int) *channel {
	p := pick(r, places)
	ch := &channel{
		id:        s.newID(r, "CH"),
		owner:     owner,
		seed:      r.Uint64(),
		status:    status,
		createdAt: at(createdUS, randFormat(r)),
		version:   1 + weighted(r, []int{20, 60, 20}),
		isOBA:     chance(r, 0.03),
		hasInbox:  int8(weighted(r, []int{50, 40, 10}) - 1),
		outbound:  !chance(r, 0.05),
		ivr:       chance(r, 0.02),
		wasInUse:  chance(r, 0.15),
	}
	ch.isMigrated = chance(r, 0.08)
	ch.limit = Limits[weighted(r, []int{10, 8, 20, 35, 15, 8, 4})]
	ch.quality = QualityRatings[weighted(r, []int{10, 5, 15, 70})]
	if !chance(r, 0.6) {
		ch.qualityEvt = some(pick(r, events))
	}
	ch.tier = opt(r, 0.3, tiers[weighted(r, []int{70, 20, 10})])
	if chance(r, 0.15) {
		ch.region = some(pick(r, regions))
	}
	switch weighted(r, []int{10, 5, 75, 10}) {
	case 0:
		ch.throughputNil = true
	case 1:
	case 2:
		ch.throughput = some("STANDARD")
	case 3:
		ch.throughput = some("HIGH")
	}
	ch.phoneNumber = opt(r, 0.02, phone(r, p))
	name := owner.name
	if chance(r, 0.3) {
		name = pick(r, adjectives) + " " + pick(r, businesses)
	}
	ch.phoneName = opt(r, 0.03, name)
	ch.language = opt(r, 0.2, pick(r, languages))
	ch.verification = []optString{some("sms"), some("voice"), {}}[weighted(r, []int{60, 15, 25})]
	ch.certLen = uint16(240 + r.IntN(200))
	settle(ch, r, now, variant)
	if ch.availStatus.s == "setting_up" && chance(r, 0.5) {
		ch.certLen = 0
	}
	if ch.availStatus.s != "setting_up" {
		ch.billingAt = opt2(r, 0.2, ch.createdAt.us+r.Int64N(3*day))
	}
	return ch
}

func opt2(r *rand.Rand, pNull float64, us int64) stamp {
	if chance(r, pNull) {
		return stamp{}
	}
	return at(us, randFormat(r))
}

func randomVariant(r *rand.Rand) int {
	return weighted(r, []int{860, 40, 20, 35, 25, 20})
}

// index adds a built client to the maps and the sorted id index. Callers
// hold s.mu.
func (s *Server) index(c *client) {
	s.clients[c.id] = c
	s.hostileClient(c)
	i, _ := slices.BinarySearchFunc(s.byID, c.id, func(x *client, id string) int { return strings.Compare(x.id, id) })
	s.byID = slices.Insert(s.byID, i, c)
}

// attach adds a built channel to its owner and the indexes. Callers hold
// s.mu.
func (s *Server) attach(ch *channel) {
	s.channels[ch.id] = ch
	s.hostileChannel(ch)
	ch.idx = int32(len(s.allChans))
	s.allChans = append(s.allChans, ch)
	ch.owner.chans = append(ch.owner.chans, ch)
}

// generate builds the initial data set from the seed.
func (s *Server) generate() {
	r := rand.New(rand.NewPCG(uint64(s.cfg.Seed), 0x67656e65726174)) // "generat"
	n := s.cfg.Clients
	now := s.clock
	expected := int(float64(n)*s.cfg.ChannelsPerClient) + 16
	s.clients = make(map[string]*client, n)
	s.channels = make(map[string]*channel, expected)
	s.allChans = make([]*channel, 0, expected)
	s.byID = make([]*client, 0, n)
	for range n {
		created := genStart + r.Int64N(now-genStart-30*day)
		c := s.buildClient(r, created, now)
		s.clients[c.id] = c
		s.byID = append(s.byID, c)
		k := poisson(r, s.cfg.ChannelsPerClient)
		for range k {
			st := ChannelStatuses[weighted(r, statusWeightList)]
			chCreated := created + r.Int64N(max(now-created-day, 1))
			s.attach(s.buildChannel(r, c, chCreated, now, st, randomVariant(r)))
		}
		c.maxChannels = max(k, []int{1, 2, 3, 5, 10, 25, 100}[weighted(r, []int{10, 20, 25, 20, 15, 7, 3})])
	}
	slices.SortFunc(s.byID, func(a, b *client) int { return strings.Compare(a.id, b.id) })
	s.ensureCoverage(r)
}

// ensureCoverage makes sure that a data set large enough to hold them shows
// every documented enum value at least once, by turning some plain ready
// channels into the missing cases.
func (s *Server) ensureCoverage(r *rand.Rand) {
	var pool []*channel
	for _, ch := range s.allChans {
		if ch.status == "ready" && ch.availStatus.s == "ready" && ch.hubStatus == "live" && ch.extra == nil {
			pool = append(pool, ch)
		}
	}
	// Cases needed: one per status, availability, hub status, limit and
	// rating; fewer than 60 channels would make the data set mostly edge
	// cases, so small sets are left as drawn.
	if len(pool) < 60 {
		return
	}
	r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	take := func() *channel {
		ch := pool[len(pool)-1]
		pool = pool[:len(pool)-1]
		return ch
	}
	now := s.clock
	count := func(f func(*channel) string) map[string]int {
		m := make(map[string]int)
		for _, ch := range s.allChans {
			m[f(ch)]++
		}
		return m
	}
	seen := count(func(ch *channel) string { return ch.status })
	for _, st := range ChannelStatuses {
		if seen[st] == 0 {
			ch := take()
			ch.status = st
			settle(ch, r, now, vPlain)
		}
	}
	avail := count(func(ch *channel) string {
		if !ch.availStatus.ok {
			return "<null>"
		}
		return ch.availStatus.s
	})
	for _, want := range []struct {
		value   string
		variant int
	}{{"cancelled", vCancelled}, {"inactive", vInactive}, {"<null>", vLegacy}} {
		if avail[want.value] == 0 {
			settle(take(), r, now, want.variant)
		}
	}
	hub := count(func(ch *channel) string { return ch.hubStatus })
	for _, want := range []struct {
		value, status string
		variant       int
	}{
		{"done", "ready", vDone}, {"pending", "created", vPending}, {"sandbox", "ready", vLegacy},
		{"pending_deletion", "ready", vCancelled}, {"unregistered", "unregistered", vPlain},
		{"unknown", "error", vPlain}, {"draft", "created", vPlain},
	} {
		if hub[want.value] == 0 {
			ch := take()
			ch.status = want.status
			settle(ch, r, now, want.variant)
		}
	}
	limits := count(func(ch *channel) string { return ch.limit })
	for _, l := range Limits {
		if limits[l] == 0 {
			take().limit = l
		}
	}
	ratings := count(func(ch *channel) string { return ch.quality })
	for _, q := range QualityRatings {
		if ratings[q] == 0 {
			take().quality = q
		}
	}
}
