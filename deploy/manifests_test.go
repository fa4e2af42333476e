package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/hubsync/hubsync/sync/cli"
	"github.com/hubsync/hubsync/sync/fakehub"
)

// versionTag is a tag naming a release: major.minor at least (16.10,
// v3.5.0, 12.1.1, 16.10-alpine), never latest or a bare major version.
var versionTag = regexp.MustCompile(`^v?\d+\.\d+(\.\d+)?(-[\w.]+)?$`)

var digest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// isPinned reports whether image names a release by version tag or digest.
func isPinned(image string) bool {
	if name, d, ok := strings.Cut(image, "@"); ok {
		return name != "" && digest.MatchString(d)
	}
	// The tag follows the last colon after the last slash; a colon before
	// a slash is a registry's port.
	colon := strings.LastIndex(image, ":")
	if colon < 0 || colon < strings.LastIndex(image, "/") {
		return false
	}
	return versionTag.MatchString(image[colon+1:])
}

func checkPinned(t *testing.T, where, image string) {
	t.Helper()
	if !isPinned(image) {
		t.Errorf("%s: image %q is not pinned to a version tag or a digest", where, image)
	}
}

// secretSettings are the settings that must come from a file in a
// manifest: those EnvNames has a _FILE variant of.
func secretSettings() []string {
	var out []string
	names := cli.EnvNames()
	for _, n := range names {
		if base, ok := strings.CutSuffix(n, "_FILE"); ok && slices.Contains(names, base) {
			out = append(out, base)
		}
	}
	return out
}

// checkEnv checks a container's environment against the binary's settings
// and returns it as a map.
func checkEnv(t *testing.T, where string, env map[string]string) {
	t.Helper()
	known := cli.EnvNames()
	for name := range env {
		if !slices.Contains(known, name) {
			t.Errorf("%s sets %s, which hubsync does not read (it reads %v)", where, name, known)
		}
	}
	for _, s := range secretSettings() {
		v, ok := env[s]
		if !ok {
			continue
		}
		// A database URL without a password (trust or peer auth, the
		// local stack) holds no secret.
		if u, err := url.Parse(v); s == "DATABASE_URL" && err == nil {
			if _, hasPassword := u.User.Password(); !hasPassword {
				continue
			}
		}
		t.Errorf("%s sets the secret %s in plain text; use %s_FILE", where, s, s)
	}
	if env["HUB_API_KEY_FILE"] == "" && env["HUB_TOKEN_FILE"] == "" {
		t.Errorf("%s sets neither HUB_API_KEY_FILE nor HUB_TOKEN_FILE", where)
	}
}

// checkCommand checks that args name a hubsync command, by asking the
// binary for its help.
func checkCommand(t *testing.T, where string, args []string, want string) {
	t.Helper()
	if len(args) == 0 || args[0] != want {
		t.Errorf("%s runs %q, want hubsync %s", where, args, want)
		return
	}
	var stderr bytes.Buffer
	if code := cli.Run(context.Background(), []string{args[0], "--help"}, cli.Env{Stderr: &stderr, Terminal: func() bool { return false }}); code != cli.ExitOK {
		t.Errorf("%s: hubsync %s --help exited %d:\n%s", where, args[0], code, stderr.String())
	}
}

// httpPort is the port of a HUBSYNC_HTTP_ADDR value, ":9090" when unset
// (the binary's default, as serve --help shows it).
func httpPort(t *testing.T, where, addr string) int {
	t.Helper()
	if addr == "" {
		var stderr bytes.Buffer
		cli.Run(context.Background(), []string{"serve", "--help"}, cli.Env{Stderr: &stderr, Terminal: func() bool { return false }})
		m := regexp.MustCompile(`env HUBSYNC_HTTP_ADDR, default ([^)]+)\)`).FindStringSubmatch(stderr.String())
		if m == nil {
			t.Fatalf("serve --help shows no default for HUBSYNC_HTTP_ADDR:\n%s", stderr.String())
		}
		addr = m[1]
	}
	_, p, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		t.Errorf("%s: HUBSYNC_HTTP_ADDR %q is not host:port", where, addr)
	}
	return n
}

// ------------------------------------------------------------ Kubernetes

type k8sEnv struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom any    `yaml:"valueFrom"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []k8sEnv `yaml:"env"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sPodTemplate struct {
	Metadata struct {
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		RestartPolicy                 string         `yaml:"restartPolicy"`
		TerminationGracePeriodSeconds int            `yaml:"terminationGracePeriodSeconds"`
		Containers                    []k8sContainer `yaml:"containers"`
		Volumes                       []struct {
			Name   string `yaml:"name"`
			Secret *struct {
				SecretName string `yaml:"secretName"`
				Items      []struct {
					Key  string `yaml:"key"`
					Path string `yaml:"path"`
				} `yaml:"items"`
			} `yaml:"secret"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		// Deployment
		Selector *struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template k8sPodTemplate `yaml:"template"`
		// CronJob
		Schedule          string `yaml:"schedule"`
		ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
		JobTemplate       struct {
			Spec struct {
				Template k8sPodTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
		// Service (Selector is map-shaped there: see ServiceSelector)
		Ports []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
		// PodMonitor
		JobLabel            string `yaml:"jobLabel"`
		PodMetricsEndpoints []struct {
			Port        string           `yaml:"port"`
			Path        string           `yaml:"path"`
			Relabelings []map[string]any `yaml:"relabelings"`
		} `yaml:"podMetricsEndpoints"`
	} `yaml:"spec"`
	raw map[string]any
}

func loadManifests(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy/kubernetes/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes: %v", err)
	}
	var objs []k8sObject
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		typed, raw := yaml.NewDecoder(bytes.NewReader(b)), yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			if err := typed.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if err := raw.Decode(&o.raw); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without kind, apiVersion or name", f)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

func byKind(objs []k8sObject, kind string) []k8sObject {
	var out []k8sObject
	for _, o := range objs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// probePaths collects the HTTP paths the manifests and compose file probe
// or scrape, with where each is named; the test then asks a real serve for
// each.
type probePaths map[string][]string

func (p probePaths) add(path, where string) { p[path] = append(p[path], where) }

// checkPod checks one pod template's hubsync container: command, image,
// settings, secrets mounted as files, resources; and, for serve, its
// port and probes. It returns the container's HTTP port (0 for sync).
func checkPod(t *testing.T, where string, pod k8sPodTemplate, command string, secrets map[string]map[string]bool, paths probePaths) (port int, portName string) {
	t.Helper()
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", where, len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	where += " container " + c.Name
	checkPinned(t, where, c.Image)
	if len(c.Command) > 0 {
		t.Errorf("%s overrides the image's entrypoint (hubsync) with %q", where, c.Command)
	}
	checkCommand(t, where, c.Args, command)
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Errorf("%s: %s comes from valueFrom; secrets are mounted as files, other settings are plain values", where, e.Name)
		}
		env[e.Name] = e.Value
	}
	checkEnv(t, where, env)
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("%s: want cpu and memory requests and a memory limit, got %+v", where, c.Resources)
	}
	// Each *_FILE names a key of a Secret mounted in the pod.
	for name, value := range env {
		if !strings.HasSuffix(name, "_FILE") {
			continue
		}
		found := false
		for _, m := range c.VolumeMounts {
			rel, ok := strings.CutPrefix(value, strings.TrimSuffix(m.MountPath, "/")+"/")
			if !ok {
				continue
			}
			for _, v := range pod.Spec.Volumes {
				if v.Name != m.Name || v.Secret == nil {
					continue
				}
				key := rel
				for _, it := range v.Secret.Items {
					if it.Path == rel {
						key = it.Key
					}
				}
				if !secrets[v.Secret.SecretName][key] {
					t.Errorf("%s: %s=%s is key %q of Secret %q, which has no such key (secret.yaml)", where, name, value, key, v.Secret.SecretName)
				}
				found = true
			}
		}
		if !found {
			t.Errorf("%s: %s=%s is not in a mounted Secret volume", where, name, value)
		}
	}
	if command != "serve" {
		if c.LivenessProbe != nil || c.ReadinessProbe != nil || len(c.Ports) > 0 {
			t.Errorf("%s: hubsync %s serves no HTTP; want no ports or probes", where, command)
		}
		return 0, ""
	}
	port = httpPort(t, where, env["HUBSYNC_HTTP_ADDR"])
	for _, p := range c.Ports {
		if p.ContainerPort == port {
			portName = p.Name
		}
	}
	if portName == "" {
		t.Errorf("%s: no container port %d (HUBSYNC_HTTP_ADDR), ports %+v", where, port, c.Ports)
	}
	for _, pr := range []struct {
		what  string
		probe *k8sProbe
		path  string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}, {"startupProbe", c.StartupProbe, ""}} {
		if pr.probe == nil {
			if pr.path != "" {
				t.Errorf("%s: no %s", where, pr.what)
			}
			continue
		}
		if pr.probe.HTTPGet == nil {
			t.Errorf("%s: %s is not an httpGet", where, pr.what)
			continue
		}
		if pr.path != "" && pr.probe.HTTPGet.Path != pr.path {
			t.Errorf("%s: %s probes %s, want %s", where, pr.what, pr.probe.HTTPGet.Path, pr.path)
		}
		paths.add(pr.probe.HTTPGet.Path, where+" "+pr.what)
		if p := fmt.Sprint(pr.probe.HTTPGet.Port); p != portName && p != strconv.Itoa(port) {
			t.Errorf("%s: %s on port %s, want %s (%d, HUBSYNC_HTTP_ADDR)", where, pr.what, p, portName, port)
		}
	}
	if grace, err := time.ParseDuration(env["HUBSYNC_SHUTDOWN_GRACE"]); err == nil {
		if time.Duration(pod.Spec.TerminationGracePeriodSeconds)*time.Second <= grace {
			t.Errorf("%s: terminationGracePeriodSeconds %d is not above HUBSYNC_SHUTDOWN_GRACE %s", where, pod.Spec.TerminationGracePeriodSeconds, grace)
		}
	}
	return port, portName
}

// TestKubernetesManifestsMatchTheBinary checks the manifests against the
// binary: settings it knows, commands it has, secrets as files, probe
// paths and ports that a real serve answers on, pinned images.
func TestKubernetesManifestsMatchTheBinary(t *testing.T) {
	t.Parallel()
	objs := loadManifests(t)
	paths := probePaths{}
	secrets := map[string]map[string]bool{}
	for _, s := range byKind(objs, "Secret") {
		secrets[s.Metadata.Name] = map[string]bool{}
		for k := range s.Data {
			secrets[s.Metadata.Name][k] = true
		}
		for k := range s.StringData {
			secrets[s.Metadata.Name][k] = true
		}
	}

	deps := byKind(objs, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("%d Deployments, want 1", len(deps))
	}
	dep := deps[0]
	pod := dep.Spec.Template
	if dep.Spec.Selector == nil || !matches(dep.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
		t.Errorf("Deployment selector does not match its pod labels %v", pod.Metadata.Labels)
	}
	port, portName := checkPod(t, "Deployment "+dep.Metadata.Name, pod, "serve", secrets, paths)

	svcs := byKind(objs, "Service")
	if len(svcs) != 1 {
		t.Fatalf("%d Services, want 1", len(svcs))
	}
	svcSpec, _ := svcs[0].raw["spec"].(map[string]any)
	svcSel := map[string]string{}
	if sel, ok := svcSpec["selector"].(map[string]any); ok {
		for k, v := range sel {
			svcSel[k] = fmt.Sprint(v)
		}
	}
	if !matches(svcSel, pod.Metadata.Labels) {
		t.Errorf("Service selector %v does not match the serve pods %v", svcSel, pod.Metadata.Labels)
	}
	for _, p := range svcs[0].Spec.Ports {
		if tp := fmt.Sprint(p.TargetPort); tp != portName && tp != strconv.Itoa(port) {
			t.Errorf("Service port %s targets %s, want %s (%d)", p.Name, tp, portName, port)
		}
	}

	pms := byKind(objs, "PodMonitor")
	if len(pms) != 1 || pms[0].APIVersion != "monitoring.coreos.com/v1" {
		t.Fatalf("want one PodMonitor of monitoring.coreos.com/v1, got %d", len(pms))
	}
	pm := pms[0]
	pmSpec, _ := pm.raw["spec"].(map[string]any)
	pmSel := map[string]string{}
	if sel, ok := pmSpec["selector"].(map[string]any); ok {
		if ml, ok := sel["matchLabels"].(map[string]any); ok {
			for k, v := range ml {
				pmSel[k] = fmt.Sprint(v)
			}
		}
	}
	if !matches(pmSel, pod.Metadata.Labels) {
		t.Errorf("PodMonitor selector %v does not match the serve pods %v", pmSel, pod.Metadata.Labels)
	}
	// The alert rules select job="hubsync" and group by partner.
	if job := pod.Metadata.Labels[pm.Spec.JobLabel]; job != "hubsync" {
		t.Errorf("PodMonitor jobLabel %q gives job %q, want hubsync (the alert rules' job)", pm.Spec.JobLabel, job)
	}
	if len(pm.Spec.PodMetricsEndpoints) == 0 {
		t.Fatal("PodMonitor has no podMetricsEndpoints")
	}
	for _, ep := range pm.Spec.PodMetricsEndpoints {
		if ep.Port != portName {
			t.Errorf("PodMonitor scrapes port %q, want %q", ep.Port, portName)
		}
		paths.add(ep.Path, "PodMonitor path")
		partner := false
		for _, r := range ep.Relabelings {
			partner = partner || r["targetLabel"] == "partner"
		}
		if !partner {
			t.Errorf("PodMonitor sets no partner label; the dashboards' partner variable needs one")
		}
	}

	cjs := byKind(objs, "CronJob")
	if len(cjs) != 1 {
		t.Fatalf("%d CronJobs, want 1", len(cjs))
	}
	cj := cjs[0]
	if cj.Spec.ConcurrencyPolicy != "Forbid" {
		t.Errorf("CronJob concurrencyPolicy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	if cj.Spec.Schedule == "" {
		t.Errorf("CronJob has no schedule")
	}
	cpod := cj.Spec.JobTemplate.Spec.Template
	if rp := cpod.Spec.RestartPolicy; rp != "Never" && rp != "OnFailure" {
		t.Errorf("CronJob restartPolicy %q, want Never or OnFailure", rp)
	}
	checkPod(t, "CronJob "+cj.Metadata.Name, cpod, "sync", secrets, paths)

	checkPathsServed(t, paths)
}

// checkPathsServed asks a real serve for every probed or scraped path.
func checkPathsServed(t *testing.T, paths probePaths) {
	t.Helper()
	if len(paths) == 0 {
		t.Fatal("no probe or scrape paths to check")
	}
	p := newPartnerHub(t, fakehub.Config{Clients: 5, Seed: 9})
	s := startServe(t, p.env(newDB(t), nil))
	for path, where := range paths {
		resp, err := http.Get("http://" + s.addr + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%v: serve answers GET %s with %s, want 200 OK", where, path, resp.Status)
		}
	}
}

// --------------------------------------------------------------- compose

// TestComposeFileMatchesTheBinary loads docker-compose.yml with the
// compose specification's own loader (what `docker compose config` runs:
// schema validation, interpolation, normalisation) and checks it against
// the binary and the rest of the kit.
func TestComposeFileMatchesTheBinary(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := composecli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		composecli.WithWorkingDirectory(root), composecli.WithEnv(nil), composecli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	proj, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	paths := probePaths{}
	svc := func(name string) types.ServiceConfig {
		s, ok := proj.Services[name]
		if !ok {
			t.Fatalf("docker-compose.yml has no service %s", name)
		}
		return s
	}
	for name, s := range proj.Services {
		where := "compose service " + name
		if s.Build == nil {
			checkPinned(t, where, s.Image)
		}
		for _, p := range s.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes port %d on %q, want 127.0.0.1", where, p.Target, p.HostIP)
			}
		}
	}

	// The worker: settings, the API key from a secret file, its port.
	w := svc("worker")
	checkCommand(t, "compose worker", w.Command, "serve")
	env := map[string]string{}
	for k, v := range w.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	checkEnv(t, "compose worker", env)
	keyFile, ok := strings.CutPrefix(env["HUB_API_KEY_FILE"], "/run/secrets/")
	if !ok {
		t.Errorf("compose worker: HUB_API_KEY_FILE=%q is not under /run/secrets/", env["HUB_API_KEY_FILE"])
	}
	mounted := false
	for _, sec := range w.Secrets {
		target := sec.Target
		if target == "" || target == "/run/secrets/"+sec.Source {
			target = sec.Source
		}
		if target != keyFile {
			continue
		}
		mounted = true
		file := proj.Secrets[sec.Source].File
		if b, err := os.ReadFile(file); err != nil || len(bytes.TrimSpace(b)) == 0 {
			t.Errorf("compose secret %s: file %q is missing or empty: %v", sec.Source, file, err)
		}
	}
	if !mounted {
		t.Errorf("compose worker: HUB_API_KEY_FILE=%s, but no secret is mounted there (secrets %+v)", env["HUB_API_KEY_FILE"], w.Secrets)
	}
	port := httpPort(t, "compose worker", env["HUBSYNC_HTTP_ADDR"])
	published := false
	for _, p := range w.Ports {
		published = published || int(p.Target) == port
	}
	if !published {
		t.Errorf("compose worker: port %d (HUBSYNC_HTTP_ADDR) is not published", port)
	}
	if hc := w.HealthCheck; hc == nil || len(hc.Test) == 0 {
		t.Errorf("compose worker has no healthcheck")
	} else {
		for _, arg := range hc.Test {
			if u, ok := strings.CutPrefix(arg, fmt.Sprintf("http://127.0.0.1:%d", port)); ok {
				paths.add(u, "compose worker healthcheck")
			}
		}
		if len(paths) == 0 {
			t.Errorf("compose worker healthcheck %q asks nothing of port %d", hc.Test, port)
		}
	}

	// Prometheus scrapes the worker and loads the rules that are tested.
	prom := svc("prometheus")
	mounts := map[string]string{}
	for _, v := range prom.Volumes {
		if rel, err := filepath.Rel(root, v.Source); err == nil && v.Type == "bind" {
			mounts[v.Target] = rel
		}
	}
	if mounts["/etc/prometheus/prometheus.yml"] != "deploy/prometheus/prometheus.yml" || mounts["/etc/prometheus/alerts.yml"] != "deploy/prometheus/alerts.yml" {
		t.Errorf("compose prometheus mounts %v; want deploy/prometheus/prometheus.yml and alerts.yml in /etc/prometheus", mounts)
	}
	var promCfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/prometheus/prometheus.yml"), &promCfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(promCfg.RuleFiles, "alerts.yml") {
		t.Errorf("prometheus.yml rule_files %v does not load alerts.yml", promCfg.RuleFiles)
	}
	scraped := false
	for _, sc := range promCfg.ScrapeConfigs {
		if sc.JobName != "hubsync" {
			continue
		}
		path := sc.MetricsPath
		if path == "" {
			path = "/metrics"
		}
		paths.add(path, "prometheus.yml job hubsync")
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, fmt.Sprintf("worker:%d", port)) {
				scraped = true
				if st.Labels["partner"] != env["HUB_PARTNER_ID"] {
					t.Errorf("prometheus.yml labels the worker partner=%q, but it syncs HUB_PARTNER_ID=%q", st.Labels["partner"], env["HUB_PARTNER_ID"])
				}
			}
		}
	}
	if !scraped {
		t.Errorf("prometheus.yml job hubsync does not scrape worker:%d", port)
	}

	// Grafana: anonymous viewers, the provisioning and dashboards mounted.
	g := svc("grafana")
	genv := map[string]string{}
	for k, v := range g.Environment {
		if v != nil {
			genv[k] = *v
		}
	}
	if genv["GF_AUTH_ANONYMOUS_ENABLED"] != "true" || genv["GF_AUTH_ANONYMOUS_ORG_ROLE"] != "Viewer" {
		t.Errorf("compose grafana: want anonymous Viewer access, env %v", genv)
	}
	gm := map[string]string{}
	for _, v := range g.Volumes {
		if rel, err := filepath.Rel(root, v.Source); err == nil {
			gm[v.Target] = rel
		}
	}
	if gm["/etc/grafana/provisioning"] != "deploy/grafana/provisioning" || gm["/var/lib/grafana/dashboards"] != "deploy/grafana/dashboards" {
		t.Errorf("compose grafana mounts %v; want the provisioning and the dashboards of deploy/grafana", gm)
	}

	// The README's URLs are the ports and dashboards the stack has.
	readme := string(readFile(t, "README.md"))
	_, section, _ := strings.Cut(readme, "\n## Dashboards and alerts\n")
	for _, name := range []string{"grafana", "prometheus"} {
		for _, p := range svc(name).Ports {
			if u := "http://localhost:" + p.Published; !strings.Contains(section, u) {
				t.Errorf("README section \"Dashboards and alerts\" does not give %s's URL %s", name, u)
			}
		}
	}
	for _, file := range dashboardFiles {
		d := loadDashboard(t, file)
		if !strings.Contains(section, "/d/"+d.UID) || !strings.Contains(section, d.Title) {
			t.Errorf("README section \"Dashboards and alerts\" does not link dashboard %q (/d/%s)", d.Title, d.UID)
		}
	}

	checkPathsServed(t, paths)

	// And the real CLI, where it is installed.
	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err != nil {
		t.Logf("docker compose not available (%v: %s); the loader above did its checks", err, bytes.TrimSpace(out))
		return
	}
	cmd := exec.Command("docker", "compose", "config", "--quiet")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("docker compose config: %v\n%s", err, out)
	}
}

// TestPinnedImagePattern pins what checkPinned accepts.
func TestPinnedImagePattern(t *testing.T) {
	t.Parallel()
	for _, img := range []string{"prom/prometheus:v3.5.0", "grafana/grafana:12.1.1", "postgres:16.10-alpine",
		"registry.example.com/hubsync:0.1.0", "registry.example.com:5000/team/hubsync:1.2.3",
		"alpine@sha256:" + strings.Repeat("ab", 32)} {
		if !isPinned(img) {
			t.Errorf("%s should count as pinned", img)
		}
	}
	for _, img := range []string{"prom/prometheus", "prom/prometheus:latest", "grafana/grafana:12", "postgres:16-alpine",
		"registry.example.com:5000/hubsync", "hubsync:local"} {
		if isPinned(img) {
			t.Errorf("%s should not count as pinned", img)
		}
	}
}
