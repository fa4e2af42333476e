package fakehub

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// served is everything a server serves for one listing: the list answers
// in order, and each client's shared numbers answer.
type served struct {
	pages  [][]byte
	shared map[string][]byte
}

// serveAll pages through the listing with limit and sort, and fetches
// every client's shared numbers.
func serveAll(h *harness, limit int, sort string) served {
	h.t.Helper()
	out := served{shared: make(map[string][]byte)}
	n, _ := h.srv.Counts()
	for off := 0; off < n; off += limit {
		q := url.Values{"limit": {strconv.Itoa(limit)}, "offset": {strconv.Itoa(off)}}
		if sort != "" {
			q.Set("sort", sort)
		}
		code, body := h.get(h.listURL(q))
		if code != http.StatusOK {
			h.t.Fatalf("GET clients %v: status %d, want 200; body %.300s", q, code, body)
		}
		out.pages = append(out.pages, body)
	}
	for _, id := range h.srv.ClientIDs() {
		code, body := h.get(h.sharedURL(id))
		if code != http.StatusOK {
			h.t.Fatalf("GET shared numbers of %s: status %d, want 200; body %.300s", id, code, body)
		}
		out.shared[id] = body
	}
	return out
}

// records decodes what was served into ids in order and each record's
// raw JSON by id.
func (s served) records(t *testing.T) (clientIDs []string, channelIDs map[string][]string, raw map[string][]byte) {
	t.Helper()
	channelIDs, raw = make(map[string][]string), make(map[string][]byte)
	for _, p := range s.pages {
		for _, c := range decodePage(t, p).Clients {
			id := idOf(t, c)
			clientIDs = append(clientIDs, id)
			raw[id] = c
		}
	}
	for cid, body := range s.shared {
		for _, ch := range decodeArray(t, body) {
			id := idOf(t, ch)
			channelIDs[cid] = append(channelIDs[cid], id)
			raw[id] = ch
		}
	}
	return clientIDs, channelIDs, raw
}

// TestHostileMode: with Config.Hostile the simulator serves a share of its
// records with each hostile class, deterministically from the seed, and
// leaves total out of some list answers, while ids, statuses, paging, sort
// and auth stay what the same seed serves without it.
func TestHostileMode(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 11, Clients: 60, Hostile: true}
	hostile := newHarness(t, cfg)
	again := newHarness(t, cfg)
	cfg.Hostile = false
	plain := newHarness(t, cfg)

	for _, sort := range []string{"", "-created_at", "name"} {
		hs, ps := serveAll(hostile, 7, sort), serveAll(plain, 7, sort)
		hc, hch, hraw := hs.records(t)
		pc, pch, praw := ps.records(t)
		if strings.Join(hc, ",") != strings.Join(pc, ",") {
			t.Errorf("sort %q: hostile mode lists clients %v, the plain server %v", sort, hc, pc)
		}
		for cid, ids := range pch {
			if strings.Join(hch[cid], ",") != strings.Join(ids, ",") {
				t.Errorf("client %s: hostile mode serves channels %v, the plain server %v", cid, hch[cid], ids)
			}
		}
		for id, p := range praw {
			hstat, pstat := clientObj(t, hraw[id])["status"], clientObj(t, p)["status"]
			if hstat != pstat {
				t.Errorf("record %s: status %v in hostile mode, %v plain", id, hstat, pstat)
			}
		}
		as := serveAll(again, 7, sort)
		for i := range hs.pages {
			if !bytes.Equal(hs.pages[i], as.pages[i]) {
				t.Fatalf("sort %q page %d differs between two hostile servers with the same seed", sort, i)
			}
		}
	}

	s := serveAll(hostile, 10, "")
	withTotal, withoutTotal := 0, 0
	for i, p := range s.pages {
		if !json.Valid(p) {
			t.Errorf("list answer %d is not valid JSON: %.300q", i, p)
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(p, &m)
		if _, ok := m["total"]; ok {
			withTotal++
		} else {
			withoutTotal++
		}
	}
	if withTotal == 0 || withoutTotal == 0 {
		t.Errorf("hostile list answers: %d with total, %d without; want some of each", withTotal, withoutTotal)
	}
	for id, body := range s.shared {
		if !json.Valid(body) {
			t.Errorf("shared numbers of %s are not valid JSON: %.300q", id, body)
		}
	}
	for i, p := range serveAll(plain, 10, "").pages {
		if !bytes.Contains(p, []byte(`"total":`)) {
			t.Errorf("plain list answer %d has no total", i)
		}
	}

	// Every class is served, to clients and to channels, and shows in the
	// bytes.
	_, _, raw := s.records(t)
	shows := map[HostileClass]func(b []byte) bool{
		HostileNUL: func(b []byte) bool { return bytes.Contains(b, []byte(`\u0000`)) },
		HostileLoneSurrogate: func(b []byte) bool {
			return bytes.Contains(b, []byte(`\ud83d`)) || bytes.Contains(b, []byte(`\udc00`)) || bytes.Contains(b, []byte(`\ud800`))
		},
		HostileInvalidUTF8: func(b []byte) bool { return !utf8.Valid(b) },
		HostileLongString:  func(b []byte) bool { return len(b) > 1<<20 },
		HostileDeepNesting: func(b []byte) bool {
			return bytes.Contains(b, bytes.Repeat([]byte(`{"a":`), nestingDepth)) || bytes.Contains(b, bytes.Repeat([]byte(`[`), nestingDepth))
		},
		HostileBigInteger: func(b []byte) bool {
			return bytes.Contains(b, []byte("18446744073709551616")) || bytes.Contains(b, []byte("-9223372036854775809")) || bytes.Contains(b, []byte("100000000000000000000000000000"))
		},
		HostileDuplicateKeys: func(b []byte) bool { return bytes.Count(b, []byte(`"status":`)) == 2 },
		HostileWrongTypes: func(b []byte) bool {
			return bytes.Contains(b, []byte(`"created_at":1717232400`)) || bytes.Contains(b, []byte(`"max_channels":"12"`)) ||
				bytes.Contains(b, []byte(`"contact_info":42`)) || bytes.Contains(b, []byte(`"is_oba":"yes"`)) || bytes.Contains(b, []byte(`"version":"3"`))
		},
		HostileUnknownFields: func(b []byte) bool { return bytes.Contains(b, []byte(`"x_future_field"`)) },
	}
	recs := hostile.srv.HostileRecords()
	seen := map[bool]HostileClass{} // by "is a channel"
	for id, classes := range recs {
		b, ok := raw[id]
		if !ok {
			t.Errorf("hostile record %s was not served", id)
			continue
		}
		isChannel := strings.HasSuffix(id, "CH")
		seen[isChannel] |= classes
		for _, k := range HostileClasses {
			if classes&k != 0 && !shows[k](b) {
				t.Errorf("record %s is %v but its JSON does not show %v: %.400q", id, classes, k, b)
			}
		}
	}
	all := HostileClass(0)
	for _, k := range HostileClasses {
		all |= k
	}
	if seen[false] != all || seen[true] != all {
		t.Errorf("classes served: clients %v, channels %v; want every class in both", seen[false], seen[true])
	}
	clients, channels := hostile.srv.Counts()
	if n := len(recs); n >= (clients+channels)/2 {
		t.Errorf("%d of %d records are hostile; want a minority", n, clients+channels)
	}
	for id, b := range raw {
		if _, ok := recs[id]; !ok && (!utf8.Valid(b) || bytes.Contains(b, []byte(`\u0000`)) || bytes.Contains(b, []byte(`"x_`))) {
			t.Errorf("record %s is not listed as hostile but looks it: %.300q", id, b)
		}
	}
	if n := len(plain.srv.HostileRecords()); n != 0 {
		t.Errorf("a plain server lists %d hostile records; want none", n)
	}

	// Auth is unchanged.
	if code, _, _ := hostile.do(hostile.request(http.MethodGet, hostile.listURL(nil), nil, false)); code != http.StatusUnauthorized {
		t.Errorf("hostile mode without credentials: status %d, want 401", code)
	}

	// Records added later are hostile in the same share.
	for range 40 {
		hostile.srv.AddClient()
	}
	if n := len(hostile.srv.HostileRecords()); n <= len(recs) {
		t.Errorf("after adding 40 clients, %d hostile records (was %d); want more", n, len(recs))
	}
}

// TestHostileFlag: --hostile and FAKEHUB_HOSTILE set Config.Hostile.
func TestHostileFlag(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env  string
		args []string
		want bool
	}{
		{"", nil, false},
		{"true", nil, true},
		{"", []string{"--hostile"}, true},
		{"true", []string{"--hostile=false"}, false},
	} {
		fs := flag.NewFlagSet("fakehub", flag.ContinueOnError)
		o := RegisterFlagsEnv(fs, func(k string) string {
			if k == "FAKEHUB_HOSTILE" {
				return c.env
			}
			return ""
		})
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if o.Config.Hostile != c.want {
			t.Errorf("FAKEHUB_HOSTILE=%q %v: Hostile %v, want %v", c.env, c.args, o.Config.Hostile, c.want)
		}
	}
}
