package syncer

import (
	"context"
	"fmt"
	"hash/maphash"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/hubsync/hubsync/sync/hubapi"
)

// maxListPasses bounds how often the client list is paged again when a pass
// cannot be proven complete (the list moved under it).
const maxListPasses = 3

// listed is one client record of a page as the lister hands it on.
type listed struct {
	id  string
	raw jsontext.Value
	rec *record // nil when bad
	bad error   // why the record cannot be stored; its channels still sync
}

// list pages through the clients, handing each page's clients not handed on
// before to emit. It pages again (up to maxListPasses) when a pass cannot be
// proven complete, and returns the ids of every client it saw when one was,
// nil otherwise.
//
// A pass is proven complete when every page overlapped the previous one by
// the client expected (so nothing shifted between two requests: an insertion
// or a deletion before the offset moves every later client by one) and the
// pass reached the end of the list: a page that brings nothing beyond the
// overlap, or, when the API sends total, the offset total. When it sends
// total, the pass must also have seen exactly total distinct clients, and
// total must not have moved. Without total the overlaps are the proof; the
// API's total is welcome but not needed.
func (r *run) list(ctx context.Context, emit func([]listed) error) (*idSet, error) {
	emitted := newIDSet() // across passes: a client is fetched and written once per run
	var why string
	for pass := 1; pass <= maxListPasses; pass++ {
		seen, reason, lasting, err := r.listPass(ctx, emitted, emit)
		if err != nil {
			return nil, err
		}
		if reason == "" {
			if pass > 1 {
				r.log.Info("client listing proven complete on a later pass", "pass", pass)
			}
			return seen, nil
		}
		if lasting {
			// The data itself is at fault (a record without a usable id):
			// paging again would show the same.
			r.markIncomplete("client listing cannot be proven complete: %s", reason)
			return nil, nil
		}
		why = reason
		r.log.Warn("client listing not proven complete; paging again", "pass", pass, "reason", reason)
	}
	r.markIncomplete("client listing could not be proven complete after %d passes: %s", maxListPasses, why)
	return nil, nil
}

// listPass pages through the list once. It returns the distinct ids it saw
// and why it is not proven complete ("" when it is); lasting says the
// reason lies in the data, which another pass would see again.
func (r *run) listPass(ctx context.Context, emitted *idSet, emit func([]listed) error) (seen *idSet, why string, lasting bool, err error) {
	seen = newIDSet()
	seenRaw := newIDSet() // records without a usable id
	total, totalKnown := -1, false
	offset, lastID := 0, ""
	unproven := func(lastingFault bool, format string, args ...any) {
		if why == "" {
			why, lasting = fmt.Sprintf(format, args...), lastingFault
		}
	}
	for {
		page, err := r.s.cfg.API.ListClients(ctx, hubapi.ListParams{Offset: offset, Limit: r.s.cfg.PageSize, Sort: "id"})
		if err != nil {
			return nil, "", false, err // hubapi names the offset
		}
		r.mu.Lock()
		r.counts.Pages++
		r.mu.Unlock()
		switch {
		case !page.TotalKnown:
		case total == -1:
			total, totalKnown = page.Total, true
			r.mu.Lock()
			r.total = total
			r.mu.Unlock()
		case page.Total != total:
			unproven(false, "total moved from %d to %d while paging", total, page.Total)
		}

		recs := page.Records
		ids := make([]string, len(recs)) // "" for a record without a usable id
		var out []listed
		fresh := 0 // records new to this pass (the overlap is not)
		for i, raw := range recs {
			l := r.readClient(raw, offset+i)
			ids[i] = l.id
			if l.id == "" {
				unproven(true, "a client record at offset %d has no usable id", offset+i)
				// Known by its content, so that a page of such records
				// still counts as paging on.
				if seenRaw.add(string(contentHash(raw))) {
					fresh++
				}
				continue
			}
			if seen.add(l.id) {
				fresh++
			}
			if emitted.add(l.id) {
				out = append(out, l)
			}
		}
		if offset > 0 && lastID != "" && len(ids) > 0 && ids[0] != lastID {
			unproven(false, "the list shifted between pages near offset %d", offset)
		}
		if len(out) > 0 {
			if err := emit(out); err != nil {
				return nil, "", false, err
			}
		}

		n := len(recs)
		switch {
		case n == 0 && totalKnown && offset < total:
			unproven(false, "empty page at offset %d while total is %d", offset, total)
			return seen, why, lasting, nil
		case n == 0, fresh == 0 && offset > 0 && n == 1, totalKnown && offset+n >= total:
			if totalKnown && seen.len() != total {
				unproven(false, "saw %d distinct clients, total says %d", seen.len(), total)
			}
			return seen, why, lasting, nil
		case fresh == 0:
			// Not one client this pass had not seen: the API does not page
			// (it ignores offset, say). Going on would loop for ever.
			unproven(false, "the page at offset %d repeats clients already listed", offset)
			return seen, why, lasting, nil
		}
		lastID = ids[n-1]
		if n > 1 && lastID != "" {
			offset += n - 1 // overlap by one client to detect shifts
		} else {
			offset += n
			lastID = ""
		}
	}
}

// readClient reads a listed client record; offset is its place in the list.
// A record without a usable id has id "".
func (r *run) readClient(raw jsontext.Value, offset int) listed {
	rec, id, err := readRecord(raw)
	switch {
	case err == nil:
		return listed{id: id, raw: raw, rec: rec}
	case id == "":
		r.noteBadOnce(offset, id, raw, err)
		return listed{}
	default:
		r.noteBadOnce(offset, id, raw, err)
		return listed{id: id, raw: raw, bad: err}
	}
}

// noteBadOnce is noteBad for a bad client record, which the overlap of the
// next page, or a later pass of the listing, may show again at the same
// offset: it is counted once per run and offset.
func (r *run) noteBadOnce(offset int, id string, raw jsontext.Value, err error) {
	if r.logged.first(fmt.Sprintf("bad %d %x", offset, contentHash(raw))) {
		r.noteBad("client", id, fmt.Sprintf("offset %d: %v", offset, err), raw)
	}
}

// idSet is a set of ids held as 128-bit hashes: 16 bytes an id and no
// pointers for the garbage collector to follow. Two different ids collide
// with a chance of about n²/2¹²⁹.
type idSet struct {
	seeds [2]maphash.Seed
	m     map[[2]uint64]struct{}
}

func newIDSet() *idSet {
	return &idSet{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, m: map[[2]uint64]struct{}{}}
}

func (s *idSet) len() int { return len(s.m) }

func (s *idSet) key(id string) [2]uint64 {
	return [2]uint64{maphash.String(s.seeds[0], id), maphash.String(s.seeds[1], id)}
}

// add adds id and reports whether it was not in the set yet.
func (s *idSet) add(id string) bool {
	k := s.key(id)
	if _, ok := s.m[k]; ok {
		return false
	}
	s.m[k] = struct{}{}
	return true
}

// has reports whether id is in the set.
func (s *idSet) has(id string) bool {
	_, ok := s.m[s.key(id)]
	return ok
}
