package fakehub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Rendering is hand-written rather than reflective: it runs once per object
// change, but a benchmark sync renders a few hundred thousand objects.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Non-ASCII text stays UTF-8 (as a
// Python API with ensure_ascii=False sends it); invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendOpt(b []byte, o optString) []byte {
	if !o.ok {
		return append(b, "null"...)
	}
	return appendString(b, o.s)
}

func appendBool(b []byte, v bool) []byte { return strconv.AppendBool(b, v) }

// key appends `"name":` after a comma unless it opens the object.
func key(b []byte, name string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// users is the pool behind created_by and modified_by. Index 0 is the
// sloppy empty object some old records carry; the last entry is whoever
// calls the Partner API (used for PATCH).
var users = []user{
	{},
	{id: "usr_7Hq2LmA9", name: "Julia Becker"},
	{id: "usr_Kp3ZxW1e", name: "Tomás Ortega"},
	{id: "usr_9fGhT4sQ", name: "Aiko Tanaka"},
	{id: "usr_Qw8ErT2y", name: "Sven Ødegaard"},
	{id: "usr_Lm5NbV6c", name: "Priya Raman"},
	{id: "usr_Zx1CvB3n", name: "Ana Lúcia Ferreira"},
	{id: "usr_Pk0OiU9y", name: "onboarding-bot"},
	{id: "usr_Hy6TgB7u", name: "Émile Laurent"},
	{id: "usr_Ds4FgH5j", name: "Chidi Okafor"},
	{id: "usr_Partner1", name: "Partner API"},
}

const partnerAPIUser = 10

func appendUser(b []byte, u uint8) []byte {
	if int(u) >= len(users) || users[u].id == "" {
		return append(b, "{}"...)
	}
	b = append(b, `{"user_id":`...)
	b = appendString(b, users[u].id)
	b = append(b, `,"user_name":`...)
	b = appendString(b, users[u].name)
	return append(b, '}')
}

// appendJSON renders the typed client.
func (c *client) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = key(b, "id")
	b = appendString(b, c.id)
	b = key(b, "name")
	b = appendString(b, c.name)
	b = key(b, "status")
	b = appendString(b, c.status)
	if c.organisation.ok {
		b = key(b, "organisation")
		b = appendString(b, c.organisation.s)
	}
	if c.partnerPayload.ok {
		b = key(b, "partner_payload")
		b = appendString(b, c.partnerPayload.s)
	}
	b = key(b, "max_channels")
	b = strconv.AppendInt(b, int64(c.maxChannels), 10)
	b = key(b, "fb_business_id")
	b = appendOpt(b, c.fbBusinessID)
	b = key(b, "created_at")
	b = c.createdAt.appendJSON(b)
	b = key(b, "created_by")
	b = appendUser(b, c.createdBy)
	b = key(b, "modified_at")
	b = c.modifiedAt.appendJSON(b)
	b = key(b, "modified_by")
	b = appendUser(b, c.modifiedBy)

	b = key(b, "contact_info")
	b = append(b, '{')
	b = key(b, "email")
	b = appendOpt(b, c.contact.email)
	b = key(b, "webpage_url")
	b = appendOpt(b, c.contact.webpage)
	b = key(b, "phone")
	b = appendOpt(b, c.contact.phone)
	b = key(b, "language")
	b = appendOpt(b, c.contact.language)
	b = key(b, "country")
	b = appendOpt(b, c.contact.country)
	b = key(b, "street_name")
	b = appendOpt(b, c.contact.street)
	b = key(b, "city")
	b = appendOpt(b, c.contact.city)
	b = key(b, "full_name")
	b = appendOpt(b, c.contact.fullName)
	b = key(b, "zip_code")
	b = appendOpt(b, c.contact.zip)
	b = append(b, '}')

	b = key(b, "contact_user")
	b = append(b, '{')
	b = key(b, "email")
	b = appendOpt(b, c.person.email)
	b = key(b, "phone")
	b = appendOpt(b, c.person.phone)
	b = key(b, "name")
	b = appendOpt(b, c.person.name)
	b = append(b, '}')

	b = key(b, "meta_info")
	b = append(b, '{')
	b = key(b, "business_vertical")
	b = appendOpt(b, c.meta.vertical)
	b = key(b, "timezone")
	b = appendOpt(b, c.meta.timezone)
	b = key(b, "about")
	b = appendOpt(b, c.meta.about)
	b = key(b, "business_description")
	b = appendOpt(b, c.meta.description)
	b = key(b, "use_case")
	b = appendOpt(b, c.meta.useCase)
	b = append(b, '}')

	b = key(b, "suspicious")
	b = appendBool(b, c.suspicious)
	b = key(b, "enabled_for_chat_support")
	b = appendBool(b, c.chatSupport)
	return append(b, '}')
}

// appendJSON renders the typed channel.
func (ch *channel) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = key(b, "id")
	b = appendString(b, ch.id)
	b = key(b, "client_id")
	b = appendString(b, ch.owner.id)
	b = key(b, "status")
	b = appendString(b, ch.status)
	b = key(b, "availability_status")
	b = appendOpt(b, ch.availStatus)
	b = key(b, "hub_status")
	b = appendString(b, ch.hubStatus)
	b = key(b, "account_mode")
	b = appendString(b, ch.accountMode)
	b = key(b, "created_at")
	b = ch.createdAt.appendJSON(b)
	b = key(b, "cancelled_at")
	b = ch.cancelledAt.appendJSON(b)
	b = key(b, "terminated_at")
	b = ch.terminated.appendJSON(b)
	b = key(b, "billing_started_at")
	b = ch.billingAt.appendJSON(b)
	b = key(b, "current_limit")
	b = appendString(b, ch.limit)
	b = key(b, "current_quality_rating")
	b = appendString(b, ch.quality)
	b = key(b, "current_quality_update_event")
	b = appendOpt(b, ch.qualityEvt)
	b = key(b, "is_oba")
	b = appendBool(b, ch.isOBA)
	b = key(b, "is_migrated")
	b = appendBool(b, ch.isMigrated)
	b = key(b, "has_inbox")
	switch ch.hasInbox {
	case -1:
		b = append(b, "null"...)
	default:
		b = appendBool(b, ch.hasInbox == 1)
	}
	b = key(b, "version")
	b = strconv.AppendInt(b, int64(ch.version), 10)

	b = key(b, "settings")
	b = append(b, '{')
	b = key(b, "tier")
	b = appendOpt(b, ch.tier)
	b = key(b, "is_allowed_to_send_outbound_message")
	b = appendBool(b, ch.outbound)
	b = key(b, "data_localization_region")
	b = appendOpt(b, ch.region)
	b = key(b, "throughput")
	if ch.throughputNil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"level":`...)
		b = appendOpt(b, ch.throughput)
		b = append(b, '}')
	}
	b = append(b, '}')

	b = key(b, "setup_info")
	b = append(b, '{')
	b = key(b, "phone_number")
	b = appendOpt(b, ch.phoneNumber)
	b = key(b, "phone_name")
	b = appendOpt(b, ch.phoneName)
	b = key(b, "certificate")
	if ch.certLen == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = appendCertificate(b, ch.seed, int(ch.certLen))
		b = append(b, '"')
	}
	b = key(b, "default_language")
	b = appendOpt(b, ch.language)
	b = key(b, "ivr")
	b = appendBool(b, ch.ivr)
	b = key(b, "verification_method")
	b = appendOpt(b, ch.verification)
	b = key(b, "was_in_use")
	b = appendBool(b, ch.wasInUse)
	b = append(b, '}')
	return append(b, '}')
}

const base64Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// appendCertificate derives a base64-looking certificate of n characters
// (with 0 to 2 padding characters) from the channel's seed instead of
// storing it: it is most of a channel's bytes.
func appendCertificate(b []byte, seed uint64, n int) []byte {
	pad := int(seed>>60) % 3
	body := max(n-pad, 0)
	x := seed
	for i := 0; i < body; {
		x = splitmix(x)
		for j := 0; j < 10 && i < body; j++ {
			b = append(b, base64Chars[(x>>(6*j))&63])
			i++
		}
	}
	for range n - body {
		b = append(b, '=')
	}
	return b
}

// splitmix is SplitMix64's output function: a cheap, well-mixed hash used
// where a value must be derived from a seed without storing it.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// jsonBytes returns the client's served JSON, rendering and caching it if
// needed. Callers hold s.mu (read or write): the fields do not change under
// a read lock, so concurrent renders produce the same bytes.
func (c *client) jsonBytes() []byte { return cachedJSON(&c.cache, c.extra, c.hostile, c.appendJSON) }

// jsonBytes is client.jsonBytes for channels.
func (ch *channel) jsonBytes() []byte {
	return cachedJSON(&ch.cache, ch.extra, ch.hostile, ch.appendJSON)
}

// cachedJSON returns the cached bytes, or renders them (verbatim raw bytes,
// the rendering with overrides applied, or the plain rendering, made
// hostile when h is set) and caches them.
func cachedJSON(cache *atomic.Pointer[[]byte], extra *extras, h *hostility, appendJSON func([]byte) []byte) []byte {
	if p := cache.Load(); p != nil {
		return *p
	}
	var out []byte
	switch {
	case extra != nil && extra.hasRaw:
		out = extra.raw
	case extra != nil && len(extra.overrides) > 0:
		out = applyOverrides(appendJSON(nil), extra.overrides)
	default:
		out = renderExact(appendJSON)
	}
	if h != nil && (extra == nil || !extra.hasRaw) {
		out = h.apply(out)
	}
	cache.Store(&out)
	return out
}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// renderExact renders into a pooled scratch buffer and returns an exactly
// sized copy: cached bytes live as long as the object, so slack capacity
// would cost a fifth of the cache at benchmark scale.
func renderExact(render func([]byte) []byte) []byte {
	bp := scratchPool.Get().(*[]byte)
	b := render((*bp)[:0])
	out := bytes.Clone(b)
	*bp = b
	scratchPool.Put(bp)
	return out
}

// applyOverrides re-renders typed JSON through a generic map with the
// overrides applied. Only objects a test has tampered with take this path.
func applyOverrides(typed []byte, overrides []override) []byte {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(typed))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		panic(fmt.Sprintf("fakehub: typed rendering is not JSON: %v", err)) // a bug in appendJSON
	}
	for _, o := range overrides {
		parts := strings.Split(o.path, ".")
		m := obj
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				if o.value == nil {
					m = nil
					break
				}
				next = make(map[string]any)
				m[p] = next
			}
			m = next
		}
		if m == nil {
			continue
		}
		last := parts[len(parts)-1]
		if o.value == nil {
			delete(m, last)
		} else {
			m[last] = o.value
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		panic(fmt.Sprintf("fakehub: re-encode overridden object: %v", err)) // values were validated on set
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}
