package js

import (
	"embed"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// files holds the entry module and the modules it imports, read-only and
// shared by every request.
//
//go:embed tickgate.js tickgate/*.js
var files embed.FS

// Handler serves the client at /tickgate.js and the modules it imports at
// /tickgate/*.js, as text/javascript whatever the host's MIME table says:
// browsers refuse a module of another type. A page of another origin may
// import them when its origin's host[:port] matches one of origins
// (path.Match patterns, case-insensitive; "*" is any origin): a browser
// loads a module across origins only with an Access-Control-Allow-Origin
// that names its page, and refuses it otherwise. The modules are the
// same public bytes for everyone, so the header only decides which pages
// may run them.
func Handler(origins []string) http.Handler {
	files := http.FileServerFS(files)
	anyOrigin := slices.Contains(origins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		switch origin := r.Header.Get("Origin"); {
		case anyOrigin:
			h.Set("Access-Control-Allow-Origin", "*")
		default:
			h.Add("Vary", "Origin") // the answer depends on it: caches must keep one per origin
			if origin != "" && allowed(origin, origins) {
				h.Set("Access-Control-Allow-Origin", origin)
			}
		}
		files.ServeHTTP(w, r)
	})
}

// allowed reports whether origin (scheme://host[:port]) matches one of
// patterns on its host[:port], as coder/websocket matches OriginPatterns.
func allowed(origin string, patterns []string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Host)
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), host); ok {
			return true
		}
	}
	return false
}
