package fakehub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/hubsync/hubsync/sync/apispec"
)

// conformance checks requests and responses against the upstream OpenAPI
// document, the one embedded in the binary (sync/apispec).
type conformance struct {
	*harness
	router routers.Router
}

func newConformance(t *testing.T, cfg Config) *conformance {
	t.Helper()
	h := newHarness(t, cfg)
	doc, err := apispec.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: h.ts.URL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return &conformance{harness: h, router: router}
}

// authenticate accepts exactly the credentials the server was given, so
// that the spec's security requirement is checked rather than waived.
func (c *conformance) authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	req := in.RequestValidationInput.Request
	switch in.SecuritySchemeName {
	case "PartnerApiKeyV2":
		if req.Header.Get("X-API-Key") == c.srv.Config().APIKey {
			return nil
		}
	case "Bearer":
		if tok := c.srv.Config().Token; tok != "" && req.Header.Get("Authorization") == "Bearer "+tok {
			return nil
		}
	}
	return errors.New("credentials not accepted")
}

// exchange validates req against the spec (unless checkRequest is false,
// for requests that are deliberately invalid), sends it, validates the
// response and returns it. Any nonconformance fails the test.
func (c *conformance) exchange(req *http.Request, body []byte, checkRequest bool) (int, []byte) {
	c.t.Helper()
	code, respBody, err := c.check(req, body, checkRequest)
	if err != nil {
		c.t.Fatal(err)
	}
	return code, respBody
}

// check is exchange returning the nonconformance instead of failing.
func (c *conformance) check(req *http.Request, body []byte, checkRequest bool) (int, []byte, error) {
	c.t.Helper()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		return 0, nil, fmt.Errorf("no route in the spec for %s %s: %w", req.Method, req.URL, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{AuthenticationFunc: c.authenticate, MultiError: true},
	}
	if checkRequest {
		if err := openapi3filter.ValidateRequest(c.t.Context(), in); err != nil {
			return 0, nil, fmt.Errorf("request %s %s does not conform: %w", req.Method, req.URL, err)
		}
		if body != nil { // validation consumed it
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	code, header, respBody := c.do(req)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 code,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(c.t.Context(), out); err != nil {
		return code, respBody, fmt.Errorf("response %d to %s %s does not conform: %w\nbody: %.2000s", code, req.Method, req.URL, err, respBody)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		return code, respBody, fmt.Errorf("%s %s: Content-Type %q, want application/json", req.Method, req.URL, ct)
	}
	return code, respBody, nil
}

// TestConformanceCatchesDrift proves the harness is not vacuous: data that
// breaks the schema is reported.
func TestConformanceCatchesDrift(t *testing.T) {
	t.Parallel()
	c := newConformance(t, Config{Seed: 15, Clients: 3, ChannelsPerClient: 2})
	ids := c.srv.ClientIDs()
	var withChannel string
	for _, id := range ids {
		if chs := c.srv.ChannelIDs(id); len(chs) > 0 {
			withChannel = id
			if err := c.srv.SetChannelField(chs[0], "status", 42); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if withChannel == "" {
		t.Fatal("no client with a channel")
	}
	if _, _, err := c.check(c.request(http.MethodGet, c.sharedURL(withChannel), nil, true), nil, true); err == nil {
		t.Error("a channel with a numeric status passed validation")
	}
	if err := c.srv.SetClientField(ids[0], "brand_new_field", "x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.check(c.request(http.MethodGet, c.listURL(nil), nil, true), nil, true); err == nil {
		t.Error("a client with an unknown field passed validation (additionalProperties is false)")
	}
}

func TestConformanceFullPagingAndSharedNumbers(t *testing.T) {
	t.Parallel()
	c := newConformance(t, Config{Seed: 11, Clients: 120, ChannelsPerClient: 2.5})
	var ids []string
	for offset := 0; ; offset += 25 {
		q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {"25"}, "sort": {"id"}}
		code, body := c.exchange(c.request(http.MethodGet, c.listURL(q), nil, true), nil, true)
		if code != http.StatusOK {
			t.Fatalf("list offset %d: status %d, want 200", offset, code)
		}
		p := decodePage(t, body)
		for _, raw := range p.Clients {
			ids = append(ids, idOf(t, raw))
		}
		if p.Count < 25 {
			break
		}
	}
	if len(ids) != 120 {
		t.Fatalf("paged %d clients, want 120", len(ids))
	}
	channels := 0
	for _, id := range ids {
		code, body := c.exchange(c.request(http.MethodGet, c.sharedURL(id), nil, true), nil, true)
		if code != http.StatusOK {
			t.Fatalf("shared numbers of %s: status %d, want 200", id, code)
		}
		channels += len(decodeArray(t, body))
	}
	if _, want := c.srv.Counts(); channels != want {
		t.Errorf("saw %d channels, want %d", channels, want)
	}
}

func TestConformanceListVariants(t *testing.T) {
	t.Parallel()
	c := newConformance(t, Config{Seed: 12, Clients: 40})
	for _, field := range sortFields {
		q := url.Values{"sort": {field}, "limit": {"10"}}
		if code, _ := c.exchange(c.request(http.MethodGet, c.listURL(q), nil, true), nil, true); code != http.StatusOK {
			t.Errorf("sort=%s: status %d, want 200", field, code)
		}
	}
	// No parameters at all, and a filter.
	if code, _ := c.exchange(c.request(http.MethodGet, c.listURL(nil), nil, true), nil, true); code != http.StatusOK {
		t.Errorf("no parameters: status %d, want 200", code)
	}
	q := url.Values{"filters": {`{"status":"active"}`}}
	if code, _ := c.exchange(c.request(http.MethodGet, c.listURL(q), nil, true), nil, true); code != http.StatusOK {
		t.Errorf("filters: status %d, want 200", code)
	}
}

func TestConformanceErrors(t *testing.T) {
	t.Parallel()
	c := newConformance(t, Config{Seed: 13, Clients: 10, Token: "tok"})
	id := c.srv.ClientIDs()[0]
	cases := []struct {
		name       string
		method, u  string
		body       []byte
		want       int
		validReq   bool // the request itself conforms to the spec
		useBearer  bool
		wantDetail string
	}{
		{name: "list unknown partner", method: http.MethodGet, u: c.ts.URL + "/api/v2/partners/nope/clients", want: 404, validReq: true},
		{name: "list negative offset", method: http.MethodGet, u: c.listURL(url.Values{"offset": {"-1"}}), want: 400, validReq: true, wantDetail: "offset"},
		{name: "list bad limit", method: http.MethodGet, u: c.listURL(url.Values{"limit": {"ten"}}), want: 400, wantDetail: "limit"},
		{name: "list unknown sort", method: http.MethodGet, u: c.listURL(url.Values{"sort": {"colour"}}), want: 400, wantDetail: "sort"},
		{name: "list filters not object", method: http.MethodGet, u: c.listURL(url.Values{"filters": {`["a"]`}}), want: 400, wantDetail: "filters"},
		{name: "list filters unknown field", method: http.MethodGet, u: c.listURL(url.Values{"filters": {`{"colour":"red"}`}}), want: 400, wantDetail: "filters"},
		{name: "patch unknown client", method: http.MethodPatch, u: c.clientURL("nopeCL"), body: []byte(`{"max_channels":3}`), want: 404, validReq: true},
		{name: "patch unknown partner", method: http.MethodPatch, u: c.ts.URL + "/api/v2/partners/nope/clients/" + id, body: []byte(`{"max_channels":3}`), want: 404, validReq: true},
		{name: "patch unknown field", method: http.MethodPatch, u: c.clientURL(id), body: []byte(`{"colour":"red"}`), want: 400, wantDetail: "json"},
		{name: "patch wrong type", method: http.MethodPatch, u: c.clientURL(id), body: []byte(`{"max_channels":"3"}`), want: 400, wantDetail: "json"},
		{name: "patch malformed", method: http.MethodPatch, u: c.clientURL(id), body: []byte(`{"max_channels":`), want: 400, wantDetail: "json"},
		{name: "patch negative", method: http.MethodPatch, u: c.clientURL(id), body: []byte(`{"max_channels":-1}`), want: 400, validReq: true, wantDetail: "json"},
		{name: "shared unknown client", method: http.MethodGet, u: c.sharedURL("nopeCL"), want: 404, validReq: true, useBearer: true},
		{name: "shared unknown partner", method: http.MethodGet, u: c.ts.URL + "/api/v2/partners/nope/clients/" + id + "/shared_client_numbers", want: 404, validReq: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &conformance{harness: &harness{t: t, srv: c.srv, ts: c.ts, http: c.http}, router: c.router}
			req := c.request(tc.method, tc.u, tc.body, !tc.useBearer)
			if tc.useBearer {
				req.Header.Set("Authorization", "Bearer tok")
			}
			code, body := c.exchange(req, tc.body, tc.validReq)
			if code != tc.want {
				t.Fatalf("status %d, want %d; body %s", code, tc.want, body)
			}
			meta := errorMeta(t, body)
			if got := meta["http_code"]; got != float64(tc.want) {
				t.Errorf("meta.http_code = %v, want %d", got, tc.want)
			}
			details, hasDetails := meta["details"].(map[string]any)
			switch {
			case tc.wantDetail == "" && hasDetails:
				t.Errorf("a %d body has details %v; DefaultHttpError has none", code, details)
			case tc.wantDetail != "" && details[tc.wantDetail] == nil:
				t.Errorf("details = %v, want an entry for %q", meta["details"], tc.wantDetail)
			}
		})
	}
}

func TestConformancePatchSuccess(t *testing.T) {
	t.Parallel()
	c := newConformance(t, Config{Seed: 14, Clients: 5})
	id := c.srv.ClientIDs()[2]
	body := []byte(`{"partner_payload":"crm:42 – ü","max_channels":7}`)
	code, resp := c.exchange(c.request(http.MethodPatch, c.clientURL(id), body, true), body, true)
	if code != http.StatusOK {
		t.Fatalf("PATCH: status %d, want 200; body %s", code, resp)
	}
}
