package feed

// PrevCloser is implemented by a Source that knows each symbol's previous
// close, the reference a client measures the day's change from. The
// simulator does; the NATS and replay sources do not, since ticks carry no
// close. PrevClose reports false for a symbol it has none for. It must be
// safe to call from any goroutine while Run runs.
type PrevCloser interface {
	PrevClose(sym string) (px float64, ok bool)
}
