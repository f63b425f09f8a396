package js

import (
	"embed"
	"net/http"
)

// files holds the entry module and the modules it imports, read-only and
// shared by every request.
//
//go:embed tickgate.js tickgate/*.js
var files embed.FS

// Handler serves the client at /tickgate.js and the modules it imports at
// /tickgate/*.js, as text/javascript whatever the host's MIME table says:
// browsers refuse a module of another type.
func Handler() http.Handler {
	files := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		files.ServeHTTP(w, r)
	})
}
