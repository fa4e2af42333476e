// Package metrics defines hubsync's Prometheus metrics on a private registry,
// so that /metrics shows exactly what hubsync exports (plus Go and process
// collectors) and tests can build as many independent sets as they like.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector hubsync exports. The zero value is not
// usable; call New. A nil *Metrics is valid for every method and records
// nothing, so callers that do not care need not build one.
type Metrics struct {
	// Registry holds the collectors below; serve it with promhttp.HandlerFor.
	Registry *prometheus.Registry

	Runs               *prometheus.CounterVec   // result
	RunDuration        prometheus.Histogram     //
	LastSuccess        prometheus.Gauge         // unix seconds
	LastRunSucceeded   prometheus.Gauge         // 1 or 0
	SkippedRuns        prometheus.Counter       //
	APIRequests        *prometheus.CounterVec   // endpoint, code
	APIRetries         *prometheus.CounterVec   // endpoint, reason
	APIThrottled       prometheus.Counter       //
	RowsWritten        *prometheus.CounterVec   // table, op
	Transitions        *prometheus.CounterVec   // entity, attribute
	UnknownValues      *prometheus.CounterVec   // attribute
	BadRecords         *prometheus.CounterVec   // entity
	FieldsMadeSafe     *prometheus.CounterVec   // entity
	MassRemovalGuard   *prometheus.CounterVec   // table
	ChannelsByStatus   *prometheus.GaugeVec     // status
	APIRequestDuration *prometheus.HistogramVec // endpoint
}

// New builds the collectors and registers them on a fresh registry, with the
// Go runtime and process collectors beside them.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubsync_sync_runs_total", Help: "Sync runs by result (succeeded, partial, failed).",
		}, []string{"result"}),
		RunDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hubsync_sync_run_duration_seconds", Help: "Duration of sync runs.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 14),
		}),
		LastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hubsync_last_success_timestamp_seconds", Help: "Unix time when the last successful sync run finished.",
		}),
		LastRunSucceeded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hubsync_last_run_success", Help: "1 when the last sync run succeeded, else 0.",
		}),
		SkippedRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hubsync_sync_runs_skipped_total", Help: "Runs skipped because another process held the sync lock.",
		}),
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubsync_api_requests_total", Help: "Partner API requests by endpoint and HTTP status code (0: no answer).",
		}, []string{"endpoint", "code"}),
		APIRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubsync_api_retries_total", Help: "Partner API requests retried, by endpoint and reason.",
		}, []string{"endpoint", "reason"}),
		APIThrottled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hubsync_api_throttled_total", Help: "Partner API answers with HTTP 429.",
		}),
		RowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubsync_rows_written_total", Help: "Rows written by table and operation (insert, update, remove).",
		}, []string{"table", "op"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubsync_transitions_total", Help: "History rows written, by entity and attribute.",
		}, []string{"entity", "attribute"}),
		UnknownValues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubsync_unknown_enum_values_total", Help: "Values outside the documented enums, by attribute.",
		}, []string{"attribute"}),
		BadRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubsync_bad_records_total", Help: "Records from the API that could not be used and were skipped, by entity.",
		}, []string{"entity"}),
		FieldsMadeSafe: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubsync_fields_made_safe_total", Help: "Members of stored records that could not be stored as sent (wrong type, out of range, U+0000): the column is NULL or made safe and raw keeps them, by entity.",
		}, []string{"entity"}),
		MassRemovalGuard: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hubsync_mass_removal_guard_trips_total", Help: "Complete runs whose removals the mass-removal guard refused, by table (the run ended partial and removed nothing).",
		}, []string{"table"}),
		ChannelsByStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hubsync_channels", Help: "Live channels by status after the last run.",
		}, []string{"status"}),
		APIRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hubsync_api_request_duration_seconds", Help: "Partner API request latency by endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"endpoint"}),
	}
	r.MustRegister(m.Runs, m.RunDuration, m.LastSuccess, m.LastRunSucceeded, m.SkippedRuns,
		m.APIRequests, m.APIRetries, m.APIThrottled, m.RowsWritten, m.Transitions,
		m.UnknownValues, m.BadRecords, m.FieldsMadeSafe, m.MassRemovalGuard, m.ChannelsByStatus, m.APIRequestDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Exported at 0 from the start, so that an alert on their increase sees
	// the first one.
	for _, e := range []string{"client", "channel"} {
		m.BadRecords.WithLabelValues(e)
		m.FieldsMadeSafe.WithLabelValues(e)
	}
	for _, t := range []string{"clients", "channels"} {
		m.MassRemovalGuard.WithLabelValues(t)
	}
	return m
}

// RunFinished records the outcome of a sync run.
func (m *Metrics) RunFinished(result string, d time.Duration, finished time.Time) {
	if m == nil {
		return
	}
	m.Runs.WithLabelValues(result).Inc()
	m.RunDuration.Observe(d.Seconds())
	if result == "succeeded" {
		m.LastSuccess.Set(float64(finished.Unix()))
		m.LastRunSucceeded.Set(1)
	} else {
		m.LastRunSucceeded.Set(0)
	}
}

// RunSkipped records a run skipped because another process held the lock.
func (m *Metrics) RunSkipped() {
	if m == nil {
		return
	}
	m.SkippedRuns.Inc()
}

// AddRows counts rows written to table by op (insert, update, remove).
func (m *Metrics) AddRows(table, op string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.RowsWritten.WithLabelValues(table, op).Add(float64(n))
}

// AddTransitions counts history rows written for entity's attribute.
func (m *Metrics) AddTransitions(entity, attribute string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.Transitions.WithLabelValues(entity, attribute).Add(float64(n))
}

// AddUnknown counts n values outside attribute's documented enum.
func (m *Metrics) AddUnknown(attribute string, n int) {
	if m == nil {
		return
	}
	m.UnknownValues.WithLabelValues(attribute).Add(float64(n))
}

// AddBad counts one unusable record of entity (client or channel).
func (m *Metrics) AddBad(entity string) {
	if m == nil {
		return
	}
	m.BadRecords.WithLabelValues(entity).Inc()
}

// AddMadeSafe counts members of stored records that could not be stored as sent.
func (m *Metrics) AddMadeSafe(entity string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.FieldsMadeSafe.WithLabelValues(entity).Add(float64(n))
}

// MassRemovalGuardTripped counts a run whose removals from table the
// mass-removal guard refused.
func (m *Metrics) MassRemovalGuardTripped(table string) {
	if m == nil {
		return
	}
	m.MassRemovalGuard.WithLabelValues(table).Inc()
}
