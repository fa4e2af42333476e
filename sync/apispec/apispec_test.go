package apispec

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	doc, err := Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{PathListClients, PathSharedNumbers} {
		s, err := ResponseSchema(doc, p)
		if err != nil {
			t.Fatal(err)
		}
		if s.Type == nil {
			t.Errorf("schema of GET %s has no type, want object or array", p)
		}
	}
	if _, err := ResponseSchema(doc, "/nope"); err == nil {
		t.Error("ResponseSchema of an unknown path returned no error")
	}
	// Each Load is a copy of its own.
	doc.Servers = nil
	again, err := Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Servers) == 0 {
		t.Error("a change to one loaded document showed in the next")
	}
}

// TestSpecCopyIsCurrent keeps the embedded document equal to the one the
// contract cites.
func TestSpecCopyIsCurrent(t *testing.T) {
	t.Parallel()
	upstream, err := os.ReadFile("../../../shared/seed/partner-api.openapi.json")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no shared seed next to the repository")
	}
	if err != nil {
		t.Fatalf("read upstream spec: %v", err)
	}
	if !bytes.Equal(upstream, JSON) {
		t.Error("sync/apispec/partner-api.openapi.json differs from ../shared/seed/partner-api.openapi.json; copy it again")
	}
}
