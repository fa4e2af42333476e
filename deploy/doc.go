// Package deploy holds hubsync's deployment kit, which is not Go: Prometheus
// alert rules and their promtool unit tests (prometheus/), Grafana
// provisioning and dashboards (grafana/), Kubernetes manifests
// (kubernetes/) and the compose stack's secrets (compose/).
//
// Its tests check the kit against the binary, so that neither can drift
// from the other: every metric the alerts and dashboards query exists in the
// /metrics of a real serve, every SQL panel runs against a database filled
// by real syncs, and every environment variable, probe, port and image the
// manifests and docker-compose.yml name is one hubsync serves or knows.
package deploy
