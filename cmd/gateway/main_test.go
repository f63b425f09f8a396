package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// gateway, WebSocket client, HTTP transport and child process a test starts
// must be stopped by the time the tests end. No goroutine is ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// writeConfig writes content to a config file in a fresh temporary
// directory and returns its path.
func writeConfig(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// yamlOf renders dotted keys and raw YAML scalars as a nested YAML
// document: {"feed.sim.rate": "2000"} becomes "feed:\n  sim:\n    rate: 2000\n".
// Keys are sorted so keys sharing a parent end up under one mapping.
func yamlOf(kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	var prev []string
	for _, k := range keys {
		parts := strings.Split(k, ".")
		common := 0
		for common < len(prev)-1 && common < len(parts)-1 && prev[common] == parts[common] {
			common++
		}
		for i := common; i < len(parts)-1; i++ {
			b.WriteString(strings.Repeat("  ", i) + parts[i] + ":\n")
		}
		last := len(parts) - 1
		b.WriteString(strings.Repeat("  ", last) + parts[last] + ": " + kv[k] + "\n")
		prev = parts
	}
	return b.String()
}

func TestYAMLOf(t *testing.T) {
	t.Parallel()
	got := yamlOf(map[string]string{
		"listen": `"127.0.0.1:0"`, "feed.sim.rate": "2000", "feed.sim.seed": "7",
		"feed.source": "sim", "server.drain_window": "200ms",
	})
	want := "feed:\n  sim:\n    rate: 2000\n    seed: 7\n  source: sim\n" +
		"listen: \"127.0.0.1:0\"\nserver:\n  drain_window: 200ms\n"
	if got != want {
		t.Errorf("yamlOf:\n%s\nwant:\n%s", got, want)
	}
}
