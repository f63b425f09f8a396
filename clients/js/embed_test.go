package js

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHandlerCORS: a page of an allowed origin gets the header a browser
// needs to run the module; any other origin does not, and the answer says
// it varies by origin unless every origin is allowed.
func TestHandlerCORS(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		origins  []string
		origin   string
		want     string // Access-Control-Allow-Origin, "" for none
		wantVary bool
	}{
		{"any origin", []string{"*"}, "http://dashboard.example:3000", "*", false},
		{"any origin, no Origin header", []string{"*"}, "", "*", false},
		{"pattern matches", []string{"localhost:*", "*.example.com"}, "http://localhost:8000", "http://localhost:8000", true},
		{"pattern matches, case-insensitive", []string{"*.example.com"}, "https://Dash.Example.com", "https://Dash.Example.com", true},
		{"pattern misses", []string{"localhost:*"}, "http://evil.example", "", true},
		{"null origin (a file:// page)", []string{"localhost:*"}, "null", "", true},
		{"none allowed", nil, "http://localhost:8000", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(Handler(c.origins))
			defer srv.Close()
			for _, path := range []string{"/tickgate.js", "/tickgate/client.js"} {
				req, _ := http.NewRequest("GET", srv.URL+path, nil)
				if c.origin != "" {
					req.Header.Set("Origin", c.origin)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
					t.Errorf("%s: %d %q, want 200 text/javascript", path, resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != c.want {
					t.Errorf("%s from %q: Access-Control-Allow-Origin %q, want %q", path, c.origin, got, c.want)
				}
				if vary := resp.Header.Get("Vary") == "Origin"; vary != c.wantVary {
					t.Errorf("%s: Vary %q, want Origin: %v", path, resp.Header.Get("Vary"), c.wantVary)
				}
			}
		})
	}
}
