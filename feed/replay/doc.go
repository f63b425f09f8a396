// Package replay owns the file replay feed: a Source that plays recorded
// messages back, at their recorded pace, faster, or as fast as the sink
// takes them. cmd/gateway (or `gateway publish`, to put a recording onto
// NATS) builds it with New, which reads the whole file, and calls Run
// once; Run calls the sink from its own goroutine only, in file order.
//
// A file is NDJSON, one message per line: a tick in the form
// feed.Tick.AppendJSON writes ("type" optional), or a book or status
// message in its upstream form (depth.go), which a feed.DepthSink gets
// among the ticks and a plain Sink never sees; or CSV, ticks only, whose
// first line is a header naming the columns sym, seq, px, sz, bid, ask and
// ts in any order; other columns are ignored and fields are not quoted. ts
// is the recorded time in Unix nanoseconds and seq counts per symbol (and
// kind) from 1. Blank lines are skipped; a line that is not a valid
// message is counted under its kind and reason, logged once per symbol,
// kind and reason with its line number (feed.Refusals), and skipped.
// Played messages keep their recorded seq; they carry the wall-clock time
// of emission as TS, or with Config.Timestamps "recorded" their recorded
// ts; every message of a Run carries its epoch (Config.Epoch, else a fresh
// one). See Source for the details of timing, TS, Loop and Epoch.
package replay
