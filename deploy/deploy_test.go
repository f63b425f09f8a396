// Package deploy_test checks the deployment files under deploy/: the
// Prometheus configuration, rules and rule unit tests (with promtool), the
// Grafana dashboard, and that every YAML file parses and the Kubernetes and
// compose manifests agree with the gateway's endpoints and shutdown timing.
//
//	go test ./deploy/
//
// promtool comes with Prometheus (Debian/Ubuntu: apt-get install prometheus).
// Without it TestPromtoolCheck is skipped, unless CI is set.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// go test runs in the package directory, deploy/.
const (
	promConfig    = "prometheus/prometheus.yml"
	promRules     = "prometheus/rules.yml"
	promRulesTest = "prometheus/rules_test.yml"
	dashboardPath = "grafana/dashboards/tickgate.json"
	k8sDir        = "k8s"
	composePath   = "docker-compose.yaml"
	dockerfile    = "Dockerfile"
)

func TestPromtoolCheck(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("promtool is required in CI (apt-get install prometheus, or the release tarball): %v", err)
		}
		t.Skipf("promtool not installed: %v", err)
	}
	for _, args := range [][]string{
		// check config also checks the rule files it references (relative to the config file).
		{"check", "config", promConfig},
		{"check", "rules", promRules},
		{"test", "rules", promRulesTest},
	} {
		t.Run(strings.Join(args[:2], "-"), func(t *testing.T) {
			out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

type grafanaTarget struct {
	Expr   string `json:"expr"`
	Format string `json:"format"`
}

type grafanaPanel struct {
	ID      int             `json:"id"`
	Type    string          `json:"type"`
	Title   string          `json:"title"`
	Targets []grafanaTarget `json:"targets"`
	Panels  []grafanaPanel  `json:"panels"` // a collapsed row's panels
	GridPos struct {
		X, Y, W, H int
	} `json:"gridPos"`
}

func TestGrafanaDashboardJSON(t *testing.T) {
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string         `json:"uid"`
		Title  string         `json:"title"`
		Panels []grafanaPanel `json:"panels"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("dashboard needs a uid and a title, got uid=%q title=%q", dash.UID, dash.Title)
	}

	var all []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(dash.Panels)

	byTitle := make(map[string]grafanaPanel)
	ids := make(map[int]bool)
	for _, p := range all {
		if p.Type == "row" {
			continue
		}
		if ids[p.ID] {
			t.Errorf("panel %q: duplicate id %d", p.Title, p.ID)
		}
		ids[p.ID] = true
		if _, dup := byTitle[p.Title]; dup {
			t.Errorf("duplicate panel title %q", p.Title)
		}
		byTitle[p.Title] = p
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if !slices.ContainsFunc(p.Targets, func(tg grafanaTarget) bool { return strings.Contains(tg.Expr, "tickgate_") }) {
			t.Errorf("panel %q (%s) has no target querying a tickgate_ metric", p.Title, p.Type)
		}
	}

	want := map[string]string{ // title -> a metric its queries must use
		"Connections":  "tickgate_connections",
		"Deliveries/s": "tickgate_messages_sent_total",
		"Delivery latency heatmap (native histogram)": "tickgate_delivery_latency_seconds",
		"Delivery latency heatmap (classic buckets)":  "tickgate_delivery_latency_seconds_bucket",
		"Delivery latency p99":                        "tickgate_delivery_latency_seconds",
		"Slow consumers dropped/s":                    "tickgate_slow_consumers_total",
		"Disconnects by reason":                       "tickgate_disconnects_total",
		"Feed ticks/s":                                "tickgate_feed_ticks_total",
		"Readiness per instance":                      "tickgate_ready",
	}
	for title, metric := range want {
		p, ok := byTitle[title]
		if !ok {
			t.Errorf("no panel titled %q", title)
			continue
		}
		if !slices.ContainsFunc(p.Targets, func(tg grafanaTarget) bool { return strings.Contains(tg.Expr, metric) }) {
			t.Errorf("panel %q does not query %s", title, metric)
		}
	}

	// The native heatmap must query the histogram itself (no _bucket), the
	// classic one the buckets with format heatmap.
	if p, ok := byTitle["Delivery latency heatmap (native histogram)"]; ok {
		if p.Type != "heatmap" || len(p.Targets) == 0 || strings.Contains(p.Targets[0].Expr, "_bucket") {
			t.Errorf("native latency panel: want a heatmap over the native histogram, got %s %+v", p.Type, p.Targets)
		}
	}
	if p, ok := byTitle["Delivery latency heatmap (classic buckets)"]; ok {
		if p.Type != "heatmap" || len(p.Targets) == 0 || p.Targets[0].Format != "heatmap" || !strings.Contains(p.Targets[0].Expr, "by (le)") {
			t.Errorf("classic latency panel: want a heatmap-format query summed by le, got %s %+v", p.Type, p.Targets)
		}
	}
	if p, ok := byTitle["Delivery latency p99"]; ok {
		if !slices.ContainsFunc(p.Targets, func(tg grafanaTarget) bool { return strings.Contains(tg.Expr, "histogram_quantile(0.99") }) {
			t.Errorf("p99 panel does not use histogram_quantile(0.99, ...): %+v", p.Targets)
		}
	}
}

// metricRef matches a tickgate metric name in PromQL or prose, but not the
// middle of a recording-rule name (level:metric:operations) or of a longer word.
var metricRef = regexp.MustCompile(`(^|[^A-Za-z0-9_:])(tickgate_[a-z0-9_]+)`)

// TestMetricNamesExist checks that every tickgate_ metric named in deploy/
// (rules, tests, dashboard, HPA, adapter rule) is one the Go code registers,
// so a renamed metric breaks this test instead of silently emptying an alert.
func TestMetricNamesExist(t *testing.T) {
	registered := make(map[string]bool)
	nameLit := regexp.MustCompile(`"(tickgate_[a-z0-9_]+)"`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "deploy" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range nameLit.FindAllSubmatch(src, -1) {
			registered[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !registered["tickgate_connections"] {
		t.Fatalf("found no metric names in the Go sources (got %d); is the repository layout different?", len(registered))
	}
	known := func(name string) bool {
		if registered[name] {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && registered[base] {
				return true
			}
		}
		return false
	}

	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".go") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricRef.FindAllSubmatch(data, -1) {
			if name := string(m[2]); !known(name) {
				t.Errorf("%s: %s is not a metric the gateway registers", path, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// yamlFiles returns every .yaml/.yml file under deploy/.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// decodeAll parses every document of a YAML file.
func decodeAll(path string) ([]*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return docs, nil
		} else if err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
}

type k8sEnv struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// path is the probe's httpGet path, "" if it is not an HTTP probe.
func (p *k8sProbe) path() string {
	if p == nil || p.HTTPGet == nil {
		return ""
	}
	return p.HTTPGet.Path
}

type k8sContainer struct {
	Name           string    `yaml:"name"`
	Image          string    `yaml:"image"`
	Args           []string  `yaml:"args"`
	Env            []k8sEnv  `yaml:"env"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Exec *struct {
				Command []string `yaml:"command"`
			} `yaml:"exec"`
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	SecurityContext *struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
}

func (c k8sContainer) env(name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		// Deployment
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		// HorizontalPodAutoscaler
		ScaleTargetRef struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		Metrics []struct {
			Type string `yaml:"type"`
			Pods *struct {
				Metric struct {
					Name string `yaml:"name"`
				} `yaml:"metric"`
			} `yaml:"pods"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
}

// serviceSelector reads a Service's spec.selector, which is a plain map
// (unlike the matchLabels of a Deployment or PDB).
func serviceSelector(n *yaml.Node) (map[string]string, error) {
	var svc struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
		} `yaml:"spec"`
	}
	err := n.Decode(&svc)
	return svc.Spec.Selector, err
}

func TestManifestsParse(t *testing.T) {
	files := yamlFiles(t)
	if len(files) < 10 {
		t.Fatalf("found only %d YAML files under deploy/: %v", len(files), files)
	}
	var objects []k8sObject
	var serviceSelectors []map[string]string
	for _, path := range files {
		docs, err := decodeAll(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if len(docs) == 0 {
			t.Errorf("%s: no YAML document", path)
		}
		if filepath.Dir(path) != k8sDir {
			continue
		}
		for _, doc := range docs {
			var obj k8sObject
			if err := doc.Decode(&obj); err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if obj.Kind == "" { // Helm values files
				continue
			}
			if obj.APIVersion == "" || (obj.Metadata.Name == "" && obj.Kind != "Kustomization") {
				t.Errorf("%s: %s without apiVersion or metadata.name", path, obj.Kind)
			}
			if obj.Kind == "Service" {
				sel, err := serviceSelector(doc)
				if err != nil {
					t.Errorf("%s: %v", path, err)
				}
				serviceSelectors = append(serviceSelectors, sel)
			}
			objects = append(objects, obj)
		}
	}

	gw := findObject(objects, "Deployment", "tickgate")
	if gw == nil {
		t.Fatal("no Deployment named tickgate under deploy/k8s")
	}
	checkGatewayDeployment(t, gw)

	for _, sel := range serviceSelectors {
		if !subset(sel, gw.Spec.Template.Metadata.Labels) {
			t.Errorf("Service selector %v does not select the gateway pods %v", sel, gw.Spec.Template.Metadata.Labels)
		}
	}
	if pdb := findObject(objects, "PodDisruptionBudget", "tickgate"); pdb == nil {
		t.Error("no PodDisruptionBudget named tickgate")
	} else if !subset(pdb.Spec.Selector.MatchLabels, gw.Spec.Template.Metadata.Labels) || len(pdb.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("PDB selector %v does not select the gateway pods", pdb.Spec.Selector.MatchLabels)
	}
	if hpa := findObject(objects, "HorizontalPodAutoscaler", "tickgate"); hpa == nil {
		t.Error("no HorizontalPodAutoscaler named tickgate")
	} else {
		if hpa.APIVersion != "autoscaling/v2" || hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != gw.Metadata.Name {
			t.Errorf("HPA: want autoscaling/v2 targeting Deployment %s, got %s -> %+v", gw.Metadata.Name, hpa.APIVersion, hpa.Spec.ScaleTargetRef)
		}
		if len(hpa.Spec.Metrics) == 0 || hpa.Spec.Metrics[0].Type != "Pods" || hpa.Spec.Metrics[0].Pods == nil ||
			hpa.Spec.Metrics[0].Pods.Metric.Name != "tickgate_connections" {
			t.Errorf("HPA: want a Pods metric tickgate_connections, got %+v", hpa.Spec.Metrics)
		}
	}
	pub := findObject(objects, "Deployment", "tickgate-publisher")
	if pub == nil || len(pub.Spec.Template.Spec.Containers) == 0 || !slices.Contains(pub.Spec.Template.Spec.Containers[0].Args, "publish") {
		t.Error("no Deployment tickgate-publisher running `publish`")
	}

	checkKustomization(t)
	checkCompose(t)
}

func findObject(objs []k8sObject, kind, name string) *k8sObject {
	for i := range objs {
		if objs[i].Kind == kind && objs[i].Metadata.Name == name {
			return &objs[i]
		}
	}
	return nil
}

func subset(sub, super map[string]string) bool {
	for k, v := range sub {
		if super[k] != v {
			return false
		}
	}
	return true
}

func checkGatewayDeployment(t *testing.T, d *k8sObject) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) || len(d.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("Deployment selector %v does not match its pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("gateway Deployment: want 1 container, got %d", len(spec.Containers))
	}
	c := spec.Containers[0]
	if got := c.ReadinessProbe.path(); got != "/readyz" {
		t.Errorf("readinessProbe: want httpGet /readyz, got %q", got)
	}
	if got := c.LivenessProbe.path(); got != "/healthz" {
		t.Errorf("livenessProbe: want httpGet /healthz, got %q", got)
	}
	if !spec.SecurityContext.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if sc := c.SecurityContext; sc == nil || !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container securityContext: want readOnlyRootFilesystem and no privilege escalation, got %+v", sc)
	}
	if v, _ := c.env("TICKGATE_FEED_SOURCE"); v != "nats" {
		t.Errorf("TICKGATE_FEED_SOURCE = %q, want nats", v)
	}
	if v, _ := c.env("TICKGATE_FEED_NATS_URLS"); !strings.HasPrefix(v, "nats://") {
		t.Errorf("TICKGATE_FEED_NATS_URLS = %q, want nats:// URLs", v)
	}

	// preStop: how long the pod keeps serving after deletion before SIGTERM.
	var preStop time.Duration
	switch {
	case c.Lifecycle == nil || c.Lifecycle.PreStop == nil:
		t.Fatal("gateway container has no lifecycle.preStop hook")
	case c.Lifecycle.PreStop.Sleep != nil:
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	case c.Lifecycle.PreStop.Exec != nil && len(c.Lifecycle.PreStop.Exec.Command) > 0:
		cmd := c.Lifecycle.PreStop.Exec.Command
		secs, err := strconv.Atoi(cmd[len(cmd)-1])
		if err != nil || !slices.Contains(cmd, "sleep") {
			t.Fatalf("preStop exec %v: want a sleep of N seconds", cmd)
		}
		preStop = time.Duration(secs) * time.Second
		// distroless has no sleep: the binary must be one the image provides.
		df, err := os.ReadFile(dockerfile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(df, []byte(cmd[0])) {
			t.Errorf("preStop runs %s, which %s does not put in the image", cmd[0], dockerfile)
		}
	default:
		t.Fatal("preStop hook has neither exec nor sleep")
	}
	if preStop <= 0 {
		t.Errorf("preStop sleep %s: want > 0 so endpoints are removed before SIGTERM", preStop)
	}

	duration := func(env string) time.Duration {
		v, ok := c.env(env)
		if !ok {
			t.Fatalf("gateway container does not set %s", env)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", env, v, err)
		}
		return d
	}
	drain := duration("TICKGATE_SERVER_DRAIN_WINDOW")
	shutdown := duration("TICKGATE_SERVER_SHUTDOWN_TIMEOUT")
	if spec.TerminationGracePeriodSeconds == nil {
		t.Fatal("terminationGracePeriodSeconds not set (default 30s)")
	}
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	if shutdown <= drain {
		t.Errorf("shutdown_timeout %s must exceed drain_window %s (the gateway refuses to start)", shutdown, drain)
	}
	// The grace period starts with preStop; SIGTERM comes after it.
	if grace <= preStop+drain {
		t.Errorf("terminationGracePeriodSeconds %s <= preStop %s + drain_window %s: clients would be killed mid-drain", grace, preStop, drain)
	}
	if grace <= preStop+shutdown {
		t.Errorf("terminationGracePeriodSeconds %s <= preStop %s + shutdown_timeout %s: SIGKILL before the gateway's own deadline", grace, preStop, shutdown)
	}
}

func checkKustomization(t *testing.T) {
	t.Helper()
	var k struct {
		Resources []string `yaml:"resources"`
	}
	data, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"deployment.yaml", "service.yaml", "pdb.yaml", "hpa.yaml", "publisher.yaml"} {
		if !slices.Contains(k.Resources, want) {
			t.Errorf("kustomization.yaml does not list %s", want)
		}
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(k8sDir, r)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}
}

func checkCompose(t *testing.T) {
	t.Helper()
	var compose struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	data, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	for _, name := range []string{"nats", "publisher", "gateway-1", "gateway-2", "prometheus", "grafana"} {
		if _, ok := compose.Services[name]; !ok {
			t.Errorf("%s: no service %s", composePath, name)
		}
	}
	for name, port := range map[string]string{"gateway-1": "8081:8080", "gateway-2": "8082:8080"} {
		s := compose.Services[name]
		if s.Environment["TICKGATE_FEED_SOURCE"] != "nats" || !strings.HasPrefix(s.Environment["TICKGATE_FEED_NATS_URLS"], "nats://") {
			t.Errorf("%s: want TICKGATE_FEED_SOURCE=nats and NATS URLs, got %v", name, s.Environment)
		}
		if !slices.Contains(s.Ports, port) {
			t.Errorf("%s: want port %s, got %v", name, port, s.Ports)
		}
	}
	if pub := compose.Services["publisher"]; !slices.Contains(pub.Command, "publish") || pub.Environment["TICKGATE_FEED_NATS_URLS"] == "" {
		t.Errorf("publisher: want command publish with TICKGATE_FEED_NATS_URLS, got %v %v", pub.Command, pub.Environment)
	}
	// The demo halts symbols (off by default), so its page shows halts.
	if h, err := strconv.ParseFloat(compose.Services["publisher"].Environment["TICKGATE_FEED_SIM_HALTS_PER_HOUR"], 64); err != nil || h <= 0 {
		t.Errorf("publisher: want TICKGATE_FEED_SIM_HALTS_PER_HOUR > 0 for the demo, got %v", err)
	}
	if !slices.Contains(compose.Services["prometheus"].Command, "--enable-feature=native-histograms") {
		t.Error("prometheus: --enable-feature=native-histograms missing")
	}
	// Bind mounts are relative to deploy/; their sources must exist.
	for name, s := range compose.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") {
				continue // named volume
			}
			if _, err := os.Stat(src); err != nil {
				t.Errorf("%s: volume %s: %v", name, v, err)
			}
		}
	}
	// Prometheus scrapes the compose gateways by service name.
	cfg, err := os.ReadFile(promConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"gateway-1:8080", "gateway-2:8080"} {
		if !bytes.Contains(cfg, []byte(target)) {
			t.Errorf("%s does not scrape %s", promConfig, target)
		}
	}
}
