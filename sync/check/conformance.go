package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/hubsync/hubsync/sync/hubapi"
	"github.com/hubsync/hubsync/sync/syncer"
)

// ConformanceResult is the conformance step: every answer validated against
// the embedded OpenAPI document, findings counted with one example each.
type ConformanceResult struct {
	Step
	// Answers is the number of answers validated; Records the client and
	// channel records in them.
	Answers int `json:"answers"`
	Records int `json:"records"`
	// NotJSON counts 200 answers whose body is not valid JSON.
	NotJSON int `json:"answers_not_json"`
	// Undocumented are fields the document does not describe (kept in the
	// row's raw jsonb).
	Undocumented []Issue `json:"undocumented_fields"`
	// Nulls are nulls in fields the document does not mark nullable
	// (stored as NULL in the typed column).
	Nulls []Issue `json:"nulls_not_allowed"`
	// Enums are values outside a documented enum (stored as sent).
	Enums []Issue `json:"values_outside_enums"`
	// WrongTypes are values of another JSON type than documented (typed
	// column NULL, raw kept).
	WrongTypes []Issue `json:"wrong_types"`
	// Other are the remaining departures from the document.
	Other []Issue `json:"other"`
	// Timestamps are the timestamp formats seen in the *_at fields.
	Timestamps []TimestampFormat `json:"timestamp_formats"`
	// BadRecords are the records a sync would count as bad and skip.
	BadRecords []Issue `json:"bad_records"`
}

// Issue is one kind of departure from the document, counted.
type Issue struct {
	// Entity is "client", "channel", "list page" or "shared numbers".
	Entity string `json:"entity"`
	// Field is the field's path in the record ("contact_info.email"); empty
	// for the record itself.
	Field string `json:"field,omitempty"`
	// Value is the value seen, for enums.
	Value string `json:"value,omitempty"`
	// Detail says what the document wants, or why a record is bad.
	Detail    string `json:"detail,omitempty"`
	Count     int    `json:"count"`
	ExampleID string `json:"example_id"`
}

// TimestampFormat is one shape of timestamp seen: digits shown as 9.
type TimestampFormat struct {
	Format    string `json:"format"`
	Count     int    `json:"count"`
	ExampleID string `json:"example_id"`
	Field     string `json:"example_field"`
	// Parsed tells whether hubsync reads it (else the typed column is NULL
	// and the string stays in raw).
	Parsed bool `json:"parsed"`
}

// maxIDBytes is the syncer's limit on ids and status values (they are
// indexed).
const maxIDBytes = 256

// badRecord says why a sync would count rec (one record of a list page or
// of a shared-numbers answer, decoded with encoding/json) as bad and skip
// it, or "" when it would store it: the syncer's own rule.
func badRecord(rec any) string {
	raw, err := json.Marshal(rec)
	if err != nil {
		return "not encodable as JSON"
	}
	return syncer.RecordProblem(raw)
}

// usableID returns a record's id when a sync could key a row with it.
func usableID(rec any) (string, bool) {
	obj, _ := rec.(map[string]any)
	id, ok := obj["id"].(string)
	return id, ok && id != "" && len(id) <= maxIDBytes
}

// validator validates answers and tallies what it finds. It is safe for
// concurrent use.
type validator struct {
	listSchema, sharedSchema *openapi3.Schema
	clientTimes, chanTimes   []string // the record fields named *_at

	mu          sync.Mutex
	answers     int
	records     int
	notJSON     int
	issues      map[issueKey]*Issue
	order       []issueKey
	times       map[string]*TimestampFormat
	badNoID     int // bad client records without a usable id
	timesCapped int
}

type issueKey struct{ kind, entity, field, value, detail string }

const (
	kindUndocumented = "undocumented"
	kindNull         = "null"
	kindEnum         = "enum"
	kindType         = "type"
	kindOther        = "other"
	kindBad          = "bad"
)

// maxFormats caps the distinct timestamp formats kept; hostile data could
// make every string a format of its own.
const maxFormats = 20

func newValidator(listSchema, sharedSchema *openapi3.Schema) *validator {
	v := &validator{listSchema: listSchema, sharedSchema: sharedSchema,
		issues: map[issueKey]*Issue{}, times: map[string]*TimestampFormat{}}
	if p := listSchema.Properties["clients"]; p != nil && p.Value != nil && p.Value.Items != nil && p.Value.Items.Value != nil {
		v.clientTimes = timeFields(p.Value.Items.Value)
	}
	if sharedSchema.Items != nil && sharedSchema.Items.Value != nil {
		v.chanTimes = timeFields(sharedSchema.Items.Value)
	}
	return v
}

// timeFields are the string properties of a record schema named *_at.
func timeFields(s *openapi3.Schema) []string {
	var out []string
	for name, p := range s.Properties {
		if strings.HasSuffix(name, "_at") && p.Value != nil && p.Value.Type.Is("string") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// page validates one list answer (body decoded with encoding/json) whose
// first record is at offset.
func (v *validator) page(body any, offset int) {
	err := v.listSchema.VisitJSON(body, openapi3.MultiErrors(), openapi3.VisitAsResponse())
	obj, _ := body.(map[string]any)
	records, _ := obj["clients"].([]any)
	example := func(i int) string {
		if i >= 0 && i < len(records) {
			if id, ok := usableID(records[i]); ok {
				return clean(id, 80)
			}
		}
		return fmt.Sprintf("(record at offset %d)", offset+max(i, 0))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.answers++
	v.records += len(records)
	for _, se := range flatten(err) {
		ptr := se.JSONPointer()
		if len(ptr) >= 2 && ptr[0] == "clients" {
			i, _ := strconv.Atoi(ptr[1])
			v.schemaIssue(se, "client", ptr[2:], example(i))
		} else {
			v.schemaIssue(se, "list page", ptr, fmt.Sprintf("(page at offset %d)", offset))
		}
	}
	for i, rec := range records {
		if why := badRecord(rec); why != "" {
			if _, ok := usableID(rec); !ok {
				v.badNoID++
			}
			v.note(issueKey{kind: kindBad, entity: "client", detail: why}, example(i))
		}
		v.timestamps(rec, v.clientTimes, example(i))
	}
}

// shared validates one shared-numbers answer of a client.
func (v *validator) shared(body any, clientID string) {
	err := v.sharedSchema.VisitJSON(body, openapi3.MultiErrors(), openapi3.VisitAsResponse())
	records, _ := body.([]any)
	example := func(i int) string {
		if i >= 0 && i < len(records) {
			if id, ok := usableID(records[i]); ok {
				return clean(id, 80)
			}
		}
		return fmt.Sprintf("(record %d of client %s)", max(i, 0), clean(clientID, 80))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.answers++
	v.records += len(records)
	for _, se := range flatten(err) {
		ptr := se.JSONPointer()
		if len(ptr) >= 1 {
			i, _ := strconv.Atoi(ptr[0])
			v.schemaIssue(se, "channel", ptr[1:], example(i))
		} else {
			v.schemaIssue(se, "shared numbers", nil, "(answer for client "+clean(clientID, 80)+")")
		}
	}
	for i, rec := range records {
		if why := badRecord(rec); why != "" {
			v.note(issueKey{kind: kindBad, entity: "channel", detail: why}, example(i))
		}
		v.timestamps(rec, v.chanTimes, example(i))
	}
}

// notJSONAnswer counts a 200 answer that does not parse.
func (v *validator) notJSONAnswer() {
	v.mu.Lock()
	v.notJSON++
	v.answers++
	v.mu.Unlock()
}

// schemaIssue files one validation error under its kind. Called with mu held.
func (v *validator) schemaIssue(se *openapi3.SchemaError, entity string, path []string, example string) {
	field := clean(strings.Join(path, "."), 120)
	switch se.SchemaField {
	case "properties", "additionalProperties":
		// The error is the object's; name its undocumented members.
		obj, ok := se.Value.(map[string]any)
		if !ok || se.Schema == nil {
			break
		}
		var names []string
		for name := range obj {
			if _, known := se.Schema.Properties[name]; !known {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			break
		}
		sort.Strings(names)
		for _, name := range names {
			f := name
			if field != "" {
				f = field + "." + name
			}
			v.note(issueKey{kind: kindUndocumented, entity: entity, field: clean(f, 120)}, example)
		}
		return
	case "nullable":
		v.note(issueKey{kind: kindNull, entity: entity, field: field}, example)
		return
	case "enum":
		if s, ok := se.Value.(string); ok {
			v.note(issueKey{kind: kindEnum, entity: entity, field: field, value: clean(s, 80)}, example)
			return
		}
	case "type":
		want := ""
		if se.Schema != nil && se.Schema.Type != nil {
			want = strings.Join(se.Schema.Type.Slice(), " or ")
		}
		v.note(issueKey{kind: kindType, entity: entity, field: field, detail: fmt.Sprintf("want %s, got %s", want, jsonType(se.Value))}, example)
		return
	}
	v.note(issueKey{kind: kindOther, entity: entity, field: field, detail: clean(se.SchemaField+": "+se.Reason, 160)}, example)
}

func (v *validator) note(k issueKey, example string) {
	if is, ok := v.issues[k]; ok {
		is.Count++
		return
	}
	v.issues[k] = &Issue{Entity: k.entity, Field: k.field, Value: k.value, Detail: k.detail, Count: 1, ExampleID: example}
	v.order = append(v.order, k)
}

// timestamps tallies the formats of a record's *_at strings. Called with mu
// held.
func (v *validator) timestamps(rec any, fields []string, example string) {
	obj, _ := rec.(map[string]any)
	for _, f := range fields {
		s, ok := obj[f].(string)
		if !ok {
			continue
		}
		shape := timestampShape(s)
		tf, ok := v.times[shape]
		if !ok {
			if len(v.times) >= maxFormats {
				v.timesCapped++
				continue
			}
			_, parsed := hubapi.ParseTime(s)
			tf = &TimestampFormat{Format: shape, ExampleID: example, Field: f, Parsed: parsed}
			v.times[shape] = tf
		}
		tf.Count++
	}
}

// timestampShape is s with every digit shown as 9, so that
// "2024-01-02T03:04:05Z" reads 9999-99-99T99:99:99Z.
func timestampShape(s string) string {
	if len(s) > 48 {
		return fmt.Sprintf("(a string of %d bytes)", len(s))
	}
	return clean(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '9'
		}
		return r
	}, s), 48)
}

// flatten lists the schema errors in a kin-openapi validation error.
func flatten(err error) []*openapi3.SchemaError {
	if err == nil {
		return nil
	}
	var out []*openapi3.SchemaError
	var walk func(error)
	walk = func(err error) {
		var me openapi3.MultiError
		if errors.As(err, &me) {
			for _, e := range me {
				walk(e)
			}
			return
		}
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			if se.Origin != nil {
				var inner *openapi3.SchemaError
				var innerMulti openapi3.MultiError
				if errors.As(se.Origin, &inner) || errors.As(se.Origin, &innerMulti) {
					walk(se.Origin)
					return
				}
			}
			out = append(out, se)
		}
	}
	walk(err)
	return out
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// result fills the conformance step. Records must have been validated.
func (v *validator) result() ConformanceResult {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := ConformanceResult{Answers: v.answers, Records: v.records, NotJSON: v.notJSON,
		Undocumented: []Issue{}, Nulls: []Issue{}, Enums: []Issue{}, WrongTypes: []Issue{},
		Other: []Issue{}, Timestamps: []TimestampFormat{}, BadRecords: []Issue{}}
	for _, k := range v.order {
		is := *v.issues[k]
		switch k.kind {
		case kindUndocumented:
			r.Undocumented = append(r.Undocumented, is)
		case kindNull:
			r.Nulls = append(r.Nulls, is)
		case kindEnum:
			r.Enums = append(r.Enums, is)
		case kindType:
			r.WrongTypes = append(r.WrongTypes, is)
		case kindBad:
			r.BadRecords = append(r.BadRecords, is)
		default:
			r.Other = append(r.Other, is)
		}
	}
	for _, tf := range v.times {
		r.Timestamps = append(r.Timestamps, *tf)
	}
	slices.SortFunc(r.Timestamps, func(a, b TimestampFormat) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Format, b.Format)
	})

	if r.Answers == 0 {
		r.skip("no answer to validate")
		return r
	}
	r.ok("%s, %s validated against the embedded OpenAPI document", plural(r.Answers, "answer"), plural(r.Records, "record"))
	if r.NotJSON > 0 {
		r.warn("hubsync salvages the well-formed records of such answers; report it to 360dialog support",
			"%s not valid JSON (not analysed)", plural(r.NotJSON, "answer"))
	}
	sum := func(is []Issue) (n int) {
		for _, i := range is {
			n += i.Count
		}
		return n
	}
	if n := sum(r.Undocumented); n > 0 {
		r.warn("nothing to do: undocumented fields are kept in the raw jsonb column",
			"%s, %s, e.g. %s", plural(len(r.Undocumented), "undocumented field"), plural(n, "occurrence"), describe(r.Undocumented[0]))
	}
	if n := sum(r.Nulls); n > 0 {
		r.warn("nothing to do: such nulls are stored as NULL and counted",
			"%s where the document allows none, e.g. %s", plural(n, "null"), describe(r.Nulls[0]))
	}
	if n := sum(r.Enums); n > 0 {
		r.warn("nothing to do: unknown values are stored as sent, counted and logged once per run",
			"%s outside the documented enums, e.g. %s", plural(n, "value"), describe(r.Enums[0]))
	}
	if n := sum(r.WrongTypes); n > 0 {
		r.warn("nothing to do: the typed column is NULL and the raw value kept",
			"%s of the wrong type, e.g. %s", plural(n, "value"), describe(r.WrongTypes[0]))
	}
	if n := sum(r.Other); n > 0 {
		r.warn("", "%s from the document, e.g. %s", plural(n, "other departure"), describe(r.Other[0]))
	}
	unparsed := 0
	var formats []string
	for _, tf := range r.Timestamps {
		formats = append(formats, tf.Format)
		if !tf.Parsed {
			unparsed += tf.Count
		}
	}
	if len(formats) > 0 {
		if len(formats) > 4 {
			formats = append(formats[:4], "…")
		}
		r.ok("%s seen: %s", plural(len(r.Timestamps), "timestamp format"), strings.Join(formats, ", "))
	}
	if unparsed > 0 {
		r.warn("nothing to do: unreadable timestamps are stored as NULL, the string kept in raw",
			"%s hubsync cannot read", plural(unparsed, "timestamp"))
	}
	if v.timesCapped > 0 {
		r.warn("", "%s in yet more formats not listed", plural(v.timesCapped, "timestamp"))
	}
	if n := sum(r.BadRecords); n > 0 {
		if v.badNoID > 0 {
			r.fail("report it to 360dialog support: while a client has no usable id, no sync can prove its listing complete, so nothing is ever marked removed",
				"%s without a usable id, e.g. %s", plural(v.badNoID, "client record"), exampleNoID(r.BadRecords))
		}
		r.warn("these records are skipped (not stored) and counted in hub.sync_runs.bad_records",
			"%s a sync would count as bad, e.g. %s", plural(n, "record"), describe(r.BadRecords[0]))
	}
	return r
}

func exampleNoID(bad []Issue) string {
	for _, b := range bad {
		if b.Entity == "client" && (strings.Contains(b.Detail, "id") && !strings.Contains(b.Detail, "status")) {
			return describe(b)
		}
	}
	return describe(bad[0])
}

// describe is an issue in a few words for the terminal.
func describe(is Issue) string {
	var b strings.Builder
	b.WriteString(is.Entity)
	if is.Field != "" {
		b.WriteString(" ")
		b.WriteString(is.Field)
	}
	if is.Value != "" {
		b.WriteString(" = ")
		b.WriteString(strconv.Quote(is.Value))
	}
	if is.Detail != "" {
		b.WriteString(" (")
		b.WriteString(is.Detail)
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " ×%d, id %s", is.Count, is.ExampleID)
	return b.String()
}
