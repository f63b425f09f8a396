package main

import (
	"encoding/json"
	"net/http"
	"slices"
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

// checkPrevCloses fails t unless every /symbols?detail=1 entry of tg has a
// previous close, as its listing gave it.
func checkPrevCloses(t *testing.T, tg *testGateway) {
	t.Helper()
	for _, d := range getDetail(t, tg) {
		if pc, ok := d["prev_close"].(float64); !ok || pc <= 0 {
			t.Fatalf("/symbols?detail=1 entry %v, want the previous close its listing gave", d)
		}
	}
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

// getJSON fetches url and decodes its JSON body into v, failing unless
// the status is want.
func getJSON(t *testing.T, url string, want int, v any) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("GET %s = %d, want %d", url, resp.StatusCode, want)
	}
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
}

// TestSymbolsSearch checks /symbols on a simulated market of 10,000
// symbols: a prefix in any case, a limit, the exact lookup of the names
// asked (in their order, each once, those carried), and a 400 for a bad
// parameter.
func TestSymbolsSearch(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, map[string]string{"feed.sim.universe": "10000"})
	var all []string
	getJSON(t, tg.url+"/symbols", http.StatusOK, &all)
	if len(all) != 10000 || all[0] != "AAPL" {
		t.Fatalf("/symbols: %d symbols, first %q; want 10,000 from AAPL", len(all), all[0])
	}
	var want []string
	for _, s := range all {
		if strings.HasPrefix(s, "AA") && len(want) < 5 {
			want = append(want, s)
		}
	}
	for _, q := range []string{"AA", "aa"} {
		var got []string
		getJSON(t, tg.url+"/symbols?limit=5&q="+q, http.StatusOK, &got)
		if !slices.Equal(got, want) {
			t.Fatalf("/symbols?q=%s&limit=5 = %q, want the first 5 starting AA in listing order, %q", q, got, want)
		}
	}
	var first []string
	getJSON(t, tg.url+"/symbols?limit=3", http.StatusOK, &first)
	if !slices.Equal(first, all[:3]) {
		t.Fatalf("/symbols?limit=3 = %q, want %q", first, all[:3])
	}
	var detail []map[string]any
	getJSON(t, tg.url+"/symbols?detail=1&symbols=MSFT,NOPE,AAPL,MSFT", http.StatusOK, &detail)
	if len(detail) != 2 || detail[0]["sym"] != "MSFT" || detail[1]["sym"] != "AAPL" || detail[0]["prev_close"] == nil {
		t.Fatalf("/symbols?detail=1&symbols=MSFT,NOPE,AAPL,MSFT = %v, want MSFT then AAPL, with closes", detail)
	}
	many := strings.Repeat("AAPL,", 1001) // docs/protocol.md: at most 1,000 names
	for _, bad := range []string{"limit=0", "limit=x", "limit=-3", "q=A&symbols=AAPL", "symbols=" + many} {
		getJSON(t, tg.url+"/symbols?"+bad, http.StatusBadRequest, nil)
	}
}
