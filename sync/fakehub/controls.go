package fakehub

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNotFound is returned (wrapped) by test controls given an unknown client
// or channel id.
var ErrNotFound = errors.New("not found")

// ClientIDs returns the ids of all current clients in id order.
func (s *Server) ClientIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, len(s.byID))
	for i, c := range s.byID {
		ids[i] = c.id
	}
	return ids
}

// ChannelIDs returns the ids of a client's channels in the order its shared
// numbers are served, or nil for an unknown client.
func (s *Server) ChannelIDs(clientID string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[clientID]
	if !ok {
		return nil
	}
	ids := make([]string, len(c.chans))
	for i, ch := range c.chans {
		ids[i] = ch.id
	}
	return ids
}

// Counts returns the current number of clients and channels.
func (s *Server) Counts() (clients, channels int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID), len(s.allChans)
}

// SetClientField sets a field of a client's JSON. The path may be dotted
// ("contact_info.email") and may name a field the API does not have; the
// value may be of the wrong type or nil (JSON null). Documented fields set
// to a value of their type change the typed data (so filters, sorts and
// churn see them); anything else is layered over the rendered JSON. Setting
// "id" changes only the served JSON, not the id the client is addressed by.
func (s *Server) SetClientField(clientID, path string, value any) error {
	raw, err := encodeValue(path, value)
	if err != nil {
		return fmt.Errorf("set client %s field: %w", clientID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		return fmt.Errorf("set client %s field %s: client %w", clientID, path, ErrNotFound)
	}
	f, typed := clientFields[path]
	if typed && f.set != nil && !c.extra.hasAncestor(path) && f.set(c, value) {
		c.dropOverrides(path)
	} else {
		c.extra = c.extra.with(path, raw)
	}
	c.cache.Store(nil)
	s.changed()
	return nil
}

// DeleteClientField removes a field (dotted path ok) from a client's JSON.
func (s *Server) DeleteClientField(clientID, path string) error {
	if path == "" {
		return errors.New("delete client field: empty path")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		return fmt.Errorf("delete client %s field %s: client %w", clientID, path, ErrNotFound)
	}
	switch {
	case path == "partner_payload" && !c.extra.hasAncestor(path):
		c.partnerPayload = optString{}
		c.dropOverrides(path)
	case path == "organisation" && !c.extra.hasAncestor(path):
		c.organisation = optString{}
		c.dropOverrides(path)
	default:
		c.extra = c.extra.with(path, nil)
	}
	c.cache.Store(nil)
	s.changed()
	return nil
}

// SetChannelField is SetClientField for a channel: SetChannelField(id,
// "status", "error") changes the typed status, SetChannelField(id,
// "brand_new_field", 1) adds an unknown field. Setting "id" or "client_id"
// changes only the served JSON.
func (s *Server) SetChannelField(channelID, path string, value any) error {
	raw, err := encodeValue(path, value)
	if err != nil {
		return fmt.Errorf("set channel %s field: %w", channelID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[channelID]
	if !ok {
		return fmt.Errorf("set channel %s field %s: channel %w", channelID, path, ErrNotFound)
	}
	if set, typed := channelFields[path]; typed && !ch.extra.hasAncestor(path) && set(ch, value) {
		ch.extra = ch.extra.without(path)
	} else {
		ch.extra = ch.extra.with(path, raw)
	}
	ch.cache.Store(nil)
	return nil
}

// DeleteChannelField removes a field (dotted path ok) from a channel's JSON.
func (s *Server) DeleteChannelField(channelID, path string) error {
	if path == "" {
		return errors.New("delete channel field: empty path")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[channelID]
	if !ok {
		return fmt.Errorf("delete channel %s field %s: channel %w", channelID, path, ErrNotFound)
	}
	ch.extra = ch.extra.with(path, nil)
	ch.cache.Store(nil)
	return nil
}

func encodeValue(path string, value any) (json.RawMessage, error) {
	if path == "" || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
		return nil, fmt.Errorf("invalid path %q", path)
	}
	raw, err := json.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("field %s: value is not JSON-encodable: %w", path, err)
	}
	return raw, nil
}

// with returns e plus an override of path (nil raw: a deletion), replacing
// earlier overrides of path and of anything below it.
func (e *extras) with(path string, raw json.RawMessage) *extras {
	e = e.without(path)
	if e == nil {
		e = &extras{}
	}
	e.overrides = append(e.overrides, override{path: path, value: raw})
	return e
}

// without drops the overrides of path and below; nil when nothing is left.
func (e *extras) without(path string) *extras {
	if e == nil {
		return nil
	}
	e.overrides = slices.DeleteFunc(e.overrides, func(o override) bool {
		return o.path == path || strings.HasPrefix(o.path, path+".")
	})
	if len(e.overrides) == 0 && !e.hasRaw {
		return nil
	}
	return e
}

// hasAncestor reports whether an override replaces or deletes an object
// that contains path; a typed set below it would be invisible.
func (e *extras) hasAncestor(path string) bool {
	if e == nil {
		return false
	}
	for _, o := range e.overrides {
		if strings.HasPrefix(path, o.path+".") {
			return true
		}
	}
	return false
}

func (c *client) dropOverrides(path string) { c.extra = c.extra.without(path) }

// SetRawClient makes the server send raw verbatim (malformed JSON allowed)
// wherever this client's object appears: in list pages and PATCH answers.
// A nil raw restores the normal rendering.
func (s *Server) SetRawClient(clientID string, raw []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		return fmt.Errorf("set raw client %s: client %w", clientID, ErrNotFound)
	}
	if raw == nil {
		if c.extra != nil {
			c.extra.raw, c.extra.hasRaw = nil, false
			if len(c.extra.overrides) == 0 {
				c.extra = nil
			}
		}
	} else {
		if c.extra == nil {
			c.extra = &extras{}
		}
		c.extra.raw, c.extra.hasRaw = slices.Clone(raw), true
	}
	c.cache.Store(nil)
	s.changed()
	return nil
}

// SetRawSharedNumbers makes the server answer this client's shared numbers
// with raw verbatim (status 200). A nil raw restores the normal answer.
func (s *Server) SetRawSharedNumbers(clientID string, raw []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		return fmt.Errorf("set raw shared numbers of %s: client %w", clientID, ErrNotFound)
	}
	c.rawShared, c.hasRawShare = slices.Clone(raw), raw != nil
	return nil
}

// AddClient adds a generated client without channels and returns its id.
func (s *Server) AddClient() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addClient().id
}

func (s *Server) addClient() *client {
	now := s.tick()
	c := s.buildClient(s.rng, now, now)
	c.modifiedAt = at(now, c.createdAt.f)
	c.maxChannels = []int{1, 2, 3, 5, 10}[s.rng.IntN(5)]
	s.index(c)
	s.changed()
	return c
}

// RemoveClient removes a client and its channels.
func (s *Server) RemoveClient(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return fmt.Errorf("remove client %s: %w", id, ErrNotFound)
	}
	s.removeClient(c)
	return nil
}

func (s *Server) removeClient(c *client) {
	for _, ch := range slices.Clone(c.chans) {
		s.removeChannel(ch)
	}
	delete(s.clients, c.id)
	s.retired[c.id] = struct{}{}
	if i, found := slices.BinarySearchFunc(s.byID, c.id, func(x *client, id string) int { return strings.Compare(x.id, id) }); found {
		s.byID = slices.Delete(s.byID, i, i+1)
	}
	s.changed()
}

// AddChannel adds a generated, ready channel to a client and returns its
// id, or "" when the client does not exist.
func (s *Server) AddChannel(clientID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		return ""
	}
	now := s.tick()
	ch := s.buildChannel(s.rng, c, now, now, "ready", vPlain)
	s.attach(ch)
	return ch.id
}

// RemoveChannel removes a channel from its client.
func (s *Server) RemoveChannel(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[id]
	if !ok {
		return fmt.Errorf("remove channel %s: %w", id, ErrNotFound)
	}
	s.removeChannel(ch)
	return nil
}

func (s *Server) removeChannel(ch *channel) {
	ch.owner.chans = slices.DeleteFunc(ch.owner.chans, func(x *channel) bool { return x == ch })
	last := s.allChans[len(s.allChans)-1]
	s.allChans[ch.idx] = last
	last.idx = ch.idx
	s.allChans = s.allChans[:len(s.allChans)-1]
	delete(s.channels, ch.id)
	s.retired[ch.id] = struct{}{}
}

// MoveChannel gives a channel to another client; it keeps its id and
// appears last in the new client's shared numbers.
func (s *Server) MoveChannel(channelID, toClientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[channelID]
	if !ok {
		return fmt.Errorf("move channel %s: channel %w", channelID, ErrNotFound)
	}
	to, ok := s.clients[toClientID]
	if !ok {
		return fmt.Errorf("move channel %s to %s: client %w", channelID, toClientID, ErrNotFound)
	}
	s.moveChannel(ch, to)
	return nil
}

func (s *Server) moveChannel(ch *channel, to *client) {
	if ch.owner == to {
		return
	}
	ch.owner.chans = slices.DeleteFunc(ch.owner.chans, func(x *channel) bool { return x == ch })
	ch.owner = to
	to.chans = append(to.chans, ch)
	ch.cache.Store(nil)
}

// SetFault installs f to run on every authenticated request before normal
// handling; nil removes it.
func (s *Server) SetFault(f Fault) {
	s.hookMu.Lock()
	s.fault = f
	s.hookMu.Unlock()
}

// OnList installs f to be called with the (clamped) offset and limit of
// every valid list request before its page is computed, so that a test can
// add or remove clients mid-paging. f may call the Server's methods. nil
// removes it.
func (s *Server) OnList(f func(offset, limit int)) {
	s.hookMu.Lock()
	s.onList = f
	s.hookMu.Unlock()
}
