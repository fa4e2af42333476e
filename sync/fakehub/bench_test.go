package fakehub

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkGenerate builds the benchmark-scale data set (100,000 clients,
// about 250,000 channels) and reports the live heap it needs, before any
// JSON is rendered and after every object's JSON is cached.
//
//	go test -run '^$' -bench Generate -benchtime 1x ./sync/fakehub/
func BenchmarkGenerate(b *testing.B) {
	var s *Server
	for b.Loop() {
		var err error
		s, err = New(Config{Seed: 1, Clients: 100_000, ChannelsPerClient: 2.5})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(heapMB()), "heapMB")
	for _, c := range s.byID {
		c.jsonBytes()
		for _, ch := range c.chans {
			ch.jsonBytes()
		}
	}
	b.ReportMetric(float64(heapMB()), "heapMB-rendered")
	clients, channels := s.Counts()
	b.ReportMetric(float64(channels), "channels")
	runtime.KeepAlive(s)
	_ = clients
}

func heapMB() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc >> 20
}

// BenchmarkListPage serves 100-client pages of a 100,000-client data set
// through ServeHTTP, cycling over the whole list.
func BenchmarkListPage(b *testing.B) {
	s, err := New(Config{Seed: 1, Clients: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	offset := 0
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/api/v2/partners/demo-partner/clients?sort=id&limit=100&offset="+strconv.Itoa(offset), nil)
		req.Header.Set("X-API-Key", "demo-key")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
		offset = (offset + 100) % 100_000
	}
}

// BenchmarkSortedPage pages a name-sorted list: the first page sorts, the
// rest reuse the cached order.
func BenchmarkSortedPage(b *testing.B) {
	s, err := New(Config{Seed: 1, Clients: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	offset := 0
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/api/v2/partners/demo-partner/clients?sort=-name&limit=100&offset="+strconv.Itoa(offset), nil)
		req.Header.Set("X-API-Key", "demo-key")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
		offset = (offset + 100) % 100_000
	}
}
