package main

import (
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestOpenURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"[::]:8080":      "http://localhost:8080/",
		"0.0.0.0:8080":   "http://localhost:8080/",
		"127.0.0.1:9090": "http://127.0.0.1:9090/",
		"[::1]:8080":     "http://[::1]:8080/",
		"10.1.2.3:80":    "http://10.1.2.3:80/",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := openURL(tcp); got != want {
			t.Errorf("openURL(%s) = %s, want %s", addr, got, want)
		}
	}
}

// wscatCommand matches the example client command in the docs.
var wscatCommand = regexp.MustCompile(`npx --yes wscat -c '[^']+'`)

// exampleClient returns the example client command the README gives, and
// checks the other docs that show one give the same, and none another tool.
func exampleClient(t *testing.T) string {
	t.Helper()
	var cmd string
	for _, path := range []string{"../../README.md", "../../docs/protocol.md", "../../docs/deploy.md", "../../deploy/k8s/README.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "websocat") {
			t.Errorf("%s mentions websocat, which is not packaged; the example client is npx wscat", path)
		}
		got := wscatCommand.FindAllString(string(b), -1)
		if len(got) == 0 {
			t.Errorf("%s shows no `npx --yes wscat -c '...'` command", path)
		}
		for _, c := range got {
			if cmd == "" {
				cmd = c
			} else if c != cmd {
				t.Errorf("%s shows %q, the README %q: one example everywhere", path, c, cmd)
			}
		}
	}
	if cmd != "npx --yes wscat -c 'ws://localhost:8080/ws?symbols=AAPL'" {
		t.Fatalf("README example client is %q", cmd)
	}
	return cmd
}

// TestExampleClient: the docs that show a client command show the same
// one, the README's (TestDocQuickStart runs it).
func TestExampleClient(t *testing.T) {
	t.Parallel()
	exampleClient(t)
}
