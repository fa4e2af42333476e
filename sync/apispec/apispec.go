// Package apispec holds the published OpenAPI document of the Partner API's
// "Client Management" section, embedded in the binary, and loads it with
// kin-openapi. The simulator is tested against it and `hubsync check`
// validates a real API's answers against it, so both hold the API to the
// same text.
package apispec

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// JSON is the document as published (../shared/seed/partner-api.openapi.json
// of the contract), byte for byte.
//
//go:embed partner-api.openapi.json
var JSON []byte

// Paths of the three Client Management operations, as the document names
// them.
const (
	PathListClients   = "/api/v2/partners/{partner_id}/clients"
	PathClient        = "/api/v2/partners/{partner_id}/clients/{client_id}"
	PathSharedNumbers = "/api/v2/partners/{partner_id}/clients/{client_id}/shared_client_numbers"
)

// Load parses and validates the document and returns a fresh copy that the
// caller may change (its Servers, say).
//
// The document claims OpenAPI 3.1.0 but uses 3.0's `nullable`; it is loaded
// with 3.0 semantics so that nullable fields are honoured.
func Load(ctx context.Context) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(JSON)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	doc.OpenAPI = "3.0.3"
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is not valid OpenAPI 3.0: %w", err)
	}
	return doc, nil
}

// ResponseSchema returns the schema of the 200 JSON answer of the GET
// operation at path (one of the Path constants).
func ResponseSchema(doc *openapi3.T, path string) (*openapi3.Schema, error) {
	item := doc.Paths.Find(path)
	if item == nil || item.Get == nil {
		return nil, fmt.Errorf("the OpenAPI document has no GET %s", path)
	}
	resp := item.Get.Responses.Status(200)
	if resp == nil || resp.Value == nil {
		return nil, fmt.Errorf("the OpenAPI document has no 200 answer for GET %s", path)
	}
	mt := resp.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil, fmt.Errorf("the OpenAPI document has no JSON schema for the 200 answer of GET %s", path)
	}
	return mt.Schema.Value, nil
}
