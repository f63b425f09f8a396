package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// centrifugoInstall is how docs/performance.md says to get the binary.
const centrifugoInstall = "go install github.com/centrifugal/centrifugo/v6@v6.9.1"

// Centrifugo's HTTP API key and client settings for the harness. Loopback
// only: the server binds 127.0.0.1.
const centrifugoAPIKey = "tickgate-bench"

// lookCentrifugo finds the centrifugo binary: -centrifugo, else PATH.
func lookCentrifugo(flagPath string) (string, error) {
	if flagPath != "" {
		if _, err := os.Stat(flagPath); err != nil {
			return "", fmt.Errorf("-centrifugo %s: %w", flagPath, err)
		}
		return flagPath, nil
	}
	p, err := exec.LookPath("centrifugo")
	if err != nil {
		return "", errors.New("-target centrifugo: no centrifugo binary on PATH and no -centrifugo PATH; install it with `" + centrifugoInstall + "` (it lands in $(go env GOPATH)/bin)")
	}
	return p, nil
}

// serverSpec is how to start one target and when it is ready.
type serverSpec struct {
	args      []string // after the binary
	env       []string // added to the harness's environment
	readyPath string   // GET answers 200 once the server takes clients
	cleanup   func()
}

// specFor builds the command line of o.target listening on port. natsURL
// is the harness's NATS server when -feed nats.
func specFor(o *options, port int, rate float64, natsURL string) (*serverSpec, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	rateS := strconv.FormatFloat(rate, 'f', -1, 64)
	switch o.target {
	case "baseline":
		return &serverSpec{args: []string{"-addr", ":" + strconv.Itoa(port), "-rate", rateS}, readyPath: "/readyz"}, nil
	case "floor":
		args := []string{"-addr", ":" + strconv.Itoa(port), "-rate", rateS}
		if natsURL != "" {
			args = append(args, "-nats", natsURL)
		}
		return &serverSpec{args: args, readyPath: "/readyz"}, nil
	case "centrifugo":
		return centrifugoSpec(o, addr, port)
	}
	env := []string{
		"TICKGATE_LISTEN=:" + strconv.Itoa(port),
		"TICKGATE_FEED_SIM_RATE=" + rateS,
		"TICKGATE_SERVER_MAX_CONNECTIONS=" + strconv.Itoa(o.clients+fdHeadroom+int(o.churnRate)*4),
		// Every client comes from one loopback host: no per-IP limit (its
		// default, 1000, refused all but 1,000 of a 10,000-client run).
		"TICKGATE_SERVER_MAX_CONNECTIONS_PER_IP=0",
		"TICKGATE_LOG_LEVEL=warn",
		// The simulator's order books cost its shards work whether or not a
		// client takes them: on only for the book workload, so that tick
		// runs compare with the references (which carry ticks alone) as
		// before books existed. The synthetic past is for the page.
		"TICKGATE_FEED_SIM_BOOK=" + strconv.FormatBool(o.stream == streamBook),
		"TICKGATE_FEED_SIM_BACKFILL=0s",
	}
	if natsURL != "" {
		env = append(env, "TICKGATE_FEED_SOURCE=nats", "TICKGATE_FEED_NATS_URLS="+natsURL)
	}
	if o.serverProf != "" || o.serverHeap != "" {
		env = append(env, "TICKGATE_SERVER_PPROF=true")
	}
	return &serverSpec{env: env, readyPath: "/readyz"}, nil
}

// centrifugoSpec writes a config for Centrifugo v6 into a temporary
// directory: anonymous clients may connect and subscribe to any channel
// without a namespace, history, presence and join/leave are off (their
// defaults), the HTTP API takes centrifugoAPIKey, and Prometheus metrics
// and /health are on. GOMAXPROCS is left to the runtime, as for tickgate.
func centrifugoSpec(o *options, addr string, port int) (*serverSpec, error) {
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"client": map[string]any{
			"allow_anonymous_connect_without_token": true,
			"allowed_origins":                       []string{"http://127.0.0.1"},
		},
		"channel": map[string]any{
			"without_namespace": map[string]any{
				"allow_subscribe_for_anonymous": true,
				"allow_subscribe_for_client":    true,
			},
		},
		"http_api":   map[string]any{"key": centrifugoAPIKey},
		"prometheus": map[string]any{"enabled": true},
		"health":     map[string]any{"enabled": true},
		"log":        map[string]any{"level": "warn"},
	}
	dir, err := os.MkdirTemp("", "tickgate-bench-centrifugo-")
	if err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	_ = addr
	return &serverSpec{
		args: []string{"--config", path}, readyPath: "/health",
		cleanup: func() { os.RemoveAll(dir) },
	}, nil
}
