// Package logattr carries log attributes in a context, so that code which
// logs with a context (slog's *Context methods) gets them on every line
// without being handed a logger: the sync puts its run_id in the run's
// context, and the API client's retry lines carry it too.
package logattr

import (
	"context"
	"log/slog"
)

type key struct{}

// With returns a copy of ctx that carries attrs in addition to those ctx
// already carries.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(key{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	all = append(append(all, prev...), attrs...)
	return context.WithValue(ctx, key{}, all)
}

// handler adds the context's attributes to each record.
type handler struct{ slog.Handler }

// NewHandler wraps h so that records logged with a context carrying
// attributes (see With) get them.
func NewHandler(h slog.Handler) slog.Handler { return handler{h} }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if attrs, ok := ctx.Value(key{}).([]slog.Attr); ok {
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.Handler.WithAttrs(attrs)}
}

func (h handler) WithGroup(name string) slog.Handler { return handler{h.Handler.WithGroup(name)} }
