package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// startServerProfile, with -server-profile, fetches the spawned server's
// CPU profile (/debug/pprof/profile, which tickgate serves with
// server.pprof) for the measured window into that file. The returned func
// waits for it and reports any error.
func (r *runner) startServerProfile(ctx context.Context) func() error {
	if r.opt.serverProf == "" || r.server == nil {
		return func() error { return nil }
	}
	secs := max(1, int(r.opt.duration.Seconds()))
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", r.server.port, secs)
	errc := make(chan error, 1)
	go func() {
		hc := &http.Client{Timeout: time.Duration(secs)*time.Second + 30*time.Second, Transport: &http.Transport{Proxy: nil}}
		errc <- fetchTo(ctx, hc, url, r.opt.serverProf)
	}()
	return func() error { return <-errc }
}

// fetchServerHeap, with -server-heap, fetches the spawned server's heap
// profile into that file. Taken after the window's last scrape: the
// profile's forced GC must not move the figures of the window.
func (r *runner) fetchServerHeap(ctx context.Context) error {
	if r.opt.serverHeap == "" || r.server == nil {
		return nil
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", r.server.port)
	return fetchTo(ctx, r.mc, url, r.opt.serverHeap)
}

// fetchTo GETs url into the file path.
func fetchTo(ctx context.Context, hc *http.Client, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s (tickgate serves it with server.pprof)", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
