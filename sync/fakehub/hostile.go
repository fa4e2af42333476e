package fakehub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
)

// HostileClass is one kind of awkward but valid input that hostile mode
// (Config.Hostile) serves now and then, as a real API does: each is JSON a
// lenient parser accepts, and each has broken a sync somewhere.
type HostileClass uint16

// The hostile classes. A hostile record carries one or more of them.
const (
	// HostileNUL puts the escape \u0000 inside strings (the name, a
	// nested typed string) and inside an unknown field's key and value.
	// Postgres refuses U+0000 in text and jsonb.
	HostileNUL HostileClass = 1 << iota
	// HostileLoneSurrogate puts a lone surrogate escape ("\ud83d" or
	// "\udc00") inside strings; jsonb refuses it.
	HostileLoneSurrogate
	// HostileInvalidUTF8 puts bytes that are not UTF-8 (0xff, a cut
	// sequence, an encoded surrogate) inside strings.
	HostileInvalidUTF8
	// HostileLongString makes a string of about a megabyte: the name, the
	// partner payload or an unknown field.
	HostileLongString
	// HostileDeepNesting adds an unknown field nested a few hundred levels
	// deep (objects or arrays).
	HostileDeepNesting
	// HostileBigInteger sends an integer beyond int64 where the spec has an
	// integer (a client's max_channels, a channel's version).
	HostileBigInteger
	// HostileDuplicateKeys repeats keys: the name with another value (most
	// parsers keep the last), the status with the same value.
	HostileDuplicateKeys
	// HostileWrongTypes sends fields of the wrong type: max_channels as a
	// string, contact_info as a number, is_oba as "yes", version as a
	// string, a timestamp as a number.
	HostileWrongTypes
	// HostileUnknownFields adds fields the spec does not have.
	HostileUnknownFields

	hostileEnd
)

// HostileClasses lists every hostile class in order.
var HostileClasses = func() []HostileClass {
	var out []HostileClass
	for c := HostileClass(1); c < hostileEnd; c <<= 1 {
		out = append(out, c)
	}
	return out
}()

var hostileNames = map[HostileClass]string{
	HostileNUL:           "nul",
	HostileLoneSurrogate: "lone-surrogate",
	HostileInvalidUTF8:   "invalid-utf8",
	HostileLongString:    "long-string",
	HostileDeepNesting:   "deep-nesting",
	HostileBigInteger:    "big-integer",
	HostileDuplicateKeys: "duplicate-keys",
	HostileWrongTypes:    "wrong-types",
	HostileUnknownFields: "unknown-fields",
}

// String names the classes in c, joined by "+".
func (c HostileClass) String() string {
	var names []string
	for _, k := range HostileClasses {
		if c&k != 0 {
			names = append(names, hostileNames[k])
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "+")
}

const (
	// hostileShare is the share of records (1 in n) served with hostile
	// shapes.
	hostileShare = 4
	// hostileLongShare keeps megabyte strings rarer (1 in n hostile records
	// beyond the first few): each costs its megabyte in the render cache.
	hostileLongShare = 40
	// longStringLen is the length of a hostile long string.
	longStringLen = 1 << 20
	// nestingDepth is how deep a hostile unknown field nests.
	nestingDepth = 300
)

// hostility is how one record's rendering is made hostile: a fixed set of
// classes and a seed for the choices within them, so that every rendering
// of the record (after churn, too) is hostile in the same way.
type hostility struct {
	classes HostileClass
	seed    uint64
	channel bool
}

// hostileDraw derives a record's seed from the server's seed and its id.
func (s *Server) hostileDraw(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return splitmix(uint64(s.cfg.Seed) ^ 0x686f7374696c65 ^ h.Sum64()) // "hostile"
}

// drawHostility decides whether a record is hostile and how; forced, when
// not zero, is one class it must carry. Nil: served as usual.
func (s *Server) drawHostility(id string, channel bool, forced HostileClass) *hostility {
	x := s.hostileDraw(id)
	if forced == 0 && x%hostileShare != 0 {
		return nil
	}
	h := &hostility{classes: forced, seed: splitmix(x), channel: channel}
	y := splitmix(h.seed)
	for i, k := range HostileClasses {
		bits := (y >> (7 * i)) & 0x7f
		switch {
		case k == HostileLongString:
			if bits%hostileLongShare == 0 {
				h.classes |= k
			}
		case bits%4 == 0:
			h.classes |= k
		}
	}
	if h.classes == 0 {
		// Any one class but the long string.
		h.classes = HostileClasses[y%uint64(len(HostileClasses)-1)]
		if h.classes >= HostileLongString {
			h.classes <<= 1
		}
	}
	return h
}

// makeHostile marks the generated data in hostile mode: a share of the
// clients and channels, and, so that even a small data set shows every
// class, the first hostile records each carry one class in turn. Callers
// hold s.mu or own s.
func (s *Server) makeHostile() {
	if !s.cfg.Hostile {
		return
	}
	var nc, nch int
	for _, c := range s.byID {
		var forced HostileClass
		if nc < len(HostileClasses) {
			forced = HostileClasses[nc]
		}
		if c.hostile = s.drawHostility(c.id, false, forced); c.hostile != nil {
			nc++
		}
		c.cache.Store(nil)
		for _, ch := range c.chans {
			forced = 0
			if nch < len(HostileClasses) {
				forced = HostileClasses[nch]
			}
			if ch.hostile = s.drawHostility(ch.id, true, forced); ch.hostile != nil {
				nch++
			}
			ch.cache.Store(nil)
		}
	}
}

// hostileClient and hostileChannel mark a record added after generation.
func (s *Server) hostileClient(c *client) {
	if s.cfg.Hostile {
		c.hostile = s.drawHostility(c.id, false, 0)
	}
}

func (s *Server) hostileChannel(ch *channel) {
	if s.cfg.Hostile && ch.hostile == nil {
		ch.hostile = s.drawHostility(ch.id, true, 0)
	}
}

// HostileRecords returns the ids of the clients and channels served with
// hostile shapes, with their classes. It is empty unless Config.Hostile.
func (s *Server) HostileRecords() map[string]HostileClass {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]HostileClass)
	for _, c := range s.byID {
		if c.hostile != nil {
			out[c.id] = c.hostile.classes
		}
		for _, ch := range c.chans {
			if ch.hostile != nil {
				out[ch.id] = ch.hostile.classes
			}
		}
	}
	return out
}

// omitTotal reports whether the list answer for offset leaves out `total`
// (the spec does not require it): in hostile mode, a deterministic third
// of the pages.
func (s *Server) omitTotal(offset int) bool {
	return s.cfg.Hostile && splitmix(uint64(s.cfg.Seed)^0x746f74616c^uint64(offset))%3 == 0 // "total"
}

// member is one top-level member of a rendered object: its key and value
// as JSON text.
type member struct {
	key, value []byte
}

// apply rewrites the rendered JSON of a record with h's classes. The id,
// the client_id and the status keep their values, so the record stays
// addressable and sorts, filters and pages as before.
func (h *hostility) apply(rendered []byte) []byte {
	ms, ok := splitObject(rendered)
	if !ok {
		return rendered // not an object this code rendered; leave it alone
	}
	x := h.seed
	next := func() uint64 { x = splitmix(x); return x }
	textField, nested, nestedKey, intField := "name", "contact_info", "email", "max_channels"
	if h.channel {
		textField, nested, nestedKey, intField = "account_mode", "setup_info", "phone_name", "version"
	}
	inject := func(bad string) {
		ms = injectString(ms, textField, bad, next())
		ms = injectNested(ms, nested, nestedKey, bad)
	}
	if h.classes&HostileNUL != 0 {
		inject(`\u0000`)
		ms = append(ms, member{[]byte(`"x_note\u0000"`), []byte(`"before\u0000after"`)})
	}
	if h.classes&HostileLoneSurrogate != 0 {
		inject([]string{`\ud83d`, `\udc00`, `\ud800x`}[next()%3])
	}
	if h.classes&HostileInvalidUTF8 != 0 {
		inject([]string{"\xff", "\xc3\x28", "\xed\xa0\x80", "\xe2\x82"}[next()%4])
	}
	if h.classes&HostileLongString != 0 {
		long := appendString(nil, strings.Repeat("long text é ", longStringLen/13))
		switch next() % 3 {
		case 0:
			ms = setMember(ms, textField, long)
		case 1:
			ms = setMember(ms, "partner_payload", long)
		default:
			ms = append(ms, member{[]byte(`"x_blob"`), long})
		}
	}
	if h.classes&HostileDeepNesting != 0 {
		open, end := `{"a":`, `}`
		if next()%2 == 0 {
			open, end = `[`, `]`
		}
		v := strings.Repeat(open, nestingDepth) + "1" + strings.Repeat(end, nestingDepth)
		ms = append(ms, member{[]byte(`"x_nested"`), []byte(v)})
	}
	if h.classes&HostileBigInteger != 0 {
		ms = setMember(ms, intField, []byte([]string{"18446744073709551616", "-9223372036854775809", "100000000000000000000000000000"}[next()%3]))
	}
	if h.classes&HostileDuplicateKeys != 0 {
		ms = duplicate(ms, "status")
		ms = append(ms, member{[]byte(`"` + textField + `"`), []byte(`"the second ` + textField + `"`)})
	}
	if h.classes&HostileWrongTypes != 0 {
		wrong := []member{
			{[]byte(`"created_at"`), []byte("1717232400")},
		}
		if h.channel {
			wrong = append(wrong, member{[]byte(`"is_oba"`), []byte(`"yes"`)}, member{[]byte(`"version"`), []byte(`"3"`)})
		} else {
			wrong = append(wrong, member{[]byte(`"max_channels"`), []byte(`"12"`)}, member{[]byte(`"contact_info"`), []byte("42")})
		}
		if h.classes&HostileBigInteger != 0 { // the big integer stays
			wrong = slices.DeleteFunc(wrong, func(m member) bool { return string(m.key) == `"`+intField+`"` })
		}
		// One to all of them, starting at a drawn one.
		k, n := int(next()%uint64(len(wrong))), 1+int(next()%uint64(len(wrong)))
		for i := range n {
			w := wrong[(k+i)%len(wrong)]
			ms = setMember(ms, string(w.key[1:len(w.key)-1]), w.value)
		}
	}
	if h.classes&HostileUnknownFields != 0 {
		ms = append(ms,
			member{[]byte(`"x_future_field"`), []byte(`{"tier":"gold","since":"2031-01-01","flags":[1,"two",null,{"three":3.0e2}]}`)},
			member{[]byte(`"x_flag"`), []byte("true")})
	}
	return joinObject(ms)
}

// splitObject splits a JSON object into its top-level members, in order.
func splitObject(b []byte) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var ms []member
	for dec.More() {
		t, err := dec.Token()
		k, ok := t.(string)
		if err != nil || !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		ms = append(ms, member{appendString(nil, k), v})
	}
	return ms, true
}

func joinObject(ms []member) []byte {
	n := 2
	for _, m := range ms {
		n += len(m.key) + len(m.value) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.key...)
		b = append(b, ':')
		b = append(b, m.value...)
	}
	return append(b, '}')
}

func find(ms []member, name string) int {
	key := appendString(nil, name)
	for i, m := range ms {
		if bytes.Equal(m.key, key) {
			return i
		}
	}
	return -1
}

// setMember replaces the value of name, or adds it.
func setMember(ms []member, name string, value []byte) []member {
	if i := find(ms, name); i >= 0 {
		ms[i].value = value
		return ms
	}
	return append(ms, member{appendString(nil, name), value})
}

// duplicate repeats the member name, value and all, right after itself.
func duplicate(ms []member, name string) []member {
	i := find(ms, name)
	if i < 0 {
		return ms
	}
	out := make([]member, 0, len(ms)+1)
	out = append(out, ms[:i+1]...)
	out = append(out, ms[i])
	return append(out, ms[i+1:]...)
}

// injectString puts bad (JSON string text) into the string value of name:
// at its start, its end or after its first character.
func injectString(ms []member, name, bad string, pos uint64) []member {
	i := find(ms, name)
	if i < 0 || len(ms[i].value) < 2 || ms[i].value[0] != '"' {
		return ms
	}
	v := ms[i].value
	at := 1
	switch {
	case pos%3 == 1:
		at = len(v) - 1
	case pos%3 == 2 && len(v) > 2 && v[1] != '\\':
		at = 2
		for at < len(v)-1 && v[at]&0xc0 == 0x80 { // not inside a UTF-8 sequence
			at++
		}
	}
	out := make([]byte, 0, len(v)+len(bad))
	out = append(out, v[:at]...)
	out = append(out, bad...)
	ms[i].value = append(out, v[at:]...)
	return ms
}

// injectNested puts bad at the start of the string value of key inside the
// object member outer (rendered by this package, so the key appears once).
func injectNested(ms []member, outer, key, bad string) []member {
	i := find(ms, outer)
	if i < 0 {
		return ms
	}
	needle := []byte(fmt.Sprintf("%s:\"", strconv.Quote(key)))
	v := ms[i].value
	j := bytes.Index(v, needle)
	if j < 0 {
		return ms
	}
	j += len(needle)
	out := make([]byte, 0, len(v)+len(bad))
	out = append(out, v[:j]...)
	out = append(out, bad...)
	ms[i].value = append(out, v[j:]...)
	return ms
}
