package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteJSON writes the report as one indented JSON document, secrets
// redacted.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the report: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(r.redact(b))
	return err
}

// WriteText writes the report for a terminal: one section per step with its
// mark (✓, ! or ✗), a line per finding and one line of advice where
// something is off, then the verdict. Secrets are redacted.
func (r *Report) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "hubsync check: partner %s at %s\n", r.Settings.PartnerID, r.Settings.APIURL)
	for _, s := range r.steps() {
		fmt.Fprintf(&b, "\n%s %s\n", mark(s.step.Status), s.title)
		for _, f := range s.step.Findings {
			fmt.Fprintf(&b, "  %s %s\n", mark(f.Status), f.Message)
			if f.Advice != "" && f.Status != StatusOK {
				fmt.Fprintf(&b, "      → %s\n", f.Advice)
			}
		}
	}
	fmt.Fprintf(&b, "\n%s\n", r.verdictLine())
	_, err := w.Write(r.redact(b.Bytes()))
	return err
}

func (r *Report) verdictLine() string {
	switch r.Verdict {
	case StatusFailed:
		var failed []string
		for _, s := range r.steps() {
			if s.step.Status == StatusFailed {
				failed = append(failed, strings.ToLower(s.title))
			}
		}
		return fmt.Sprintf("✗ a sync would fail or lose data (see: %s); exit 1", strings.Join(failed, ", "))
	case StatusWarning:
		return "! a sync would work; see the warnings above"
	}
	return "✓ a sync would work"
}

func mark(s Status) string {
	switch s {
	case StatusOK:
		return "✓"
	case StatusWarning:
		return "!"
	case StatusFailed:
		return "✗"
	}
	return "-"
}

// redact replaces every secret in b.
func (r *Report) redact(b []byte) []byte {
	for _, s := range r.secrets {
		b = bytes.ReplaceAll(b, []byte(s), []byte("[redacted]"))
		// The JSON encoder escapes <, > and & in strings.
		if esc, err := json.Marshal(s); err == nil {
			b = bytes.ReplaceAll(b, esc[1:len(esc)-1], []byte("[redacted]"))
		}
	}
	return b
}
