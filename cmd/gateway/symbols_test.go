package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// getDetail fetches /symbols?detail=1 and decodes it strictly.
func getDetail(t *testing.T, tg *testGateway) []map[string]any {
	t.Helper()
	resp, err := httpClient.Get(tg.url + "/symbols?detail=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/symbols?detail=1 = %d, decode: %v", resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/symbols?detail=1 Content-Type %q", ct)
	}
	return out
}

// TestSymbolsDetail checks the simulator's previous closes are served, one
// per symbol in /symbols order, and plain /symbols stays a list of names.
func TestSymbolsDetail(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	names := getSymbols(t, tg)
	detail := getDetail(t, tg)
	if len(detail) != len(names) {
		t.Fatalf("detail lists %d symbols, /symbols %d", len(detail), len(names))
	}
	for i, d := range detail {
		pc, ok := d["prev_close"].(float64)
		if d["sym"] != names[i] || !ok || pc <= 0 || len(d) != 2 {
			t.Fatalf("detail[%d] = %v, want {sym: %s, prev_close: a price}", i, d, names[i])
		}
		if names[i] == "AAPL" && (pc < 225 || pc > 235) {
			t.Errorf("AAPL prev_close %v, want about 230", pc)
		}
	}
	if _, body := get(tg.url + "/symbols?detail=0"); !strings.HasPrefix(body, `["AAPL",`) {
		t.Errorf("/symbols?detail=0 = %.60s, want the plain list", body)
	}
}

// TestSymbolsDetailWithoutCloses checks a feed that has no previous close
// (replay; NATS is the same) omits prev_close rather than inventing one.
func TestSymbolsDetailWithoutCloses(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, map[string]string{"feed.source": "replay", "feed.replay.path": sampleReplay})
	detail := getDetail(t, tg)
	if len(detail) == 0 {
		t.Fatal("no symbols")
	}
	for i, d := range detail {
		if _, has := d["prev_close"]; has || d["sym"] == "" {
			t.Errorf("detail[%d] = %v, want only sym", i, d)
		}
	}
}
