package feed

// DecodeErrorsMetric names the counter of payloads each source rejects as
// bad ticks, told apart by a constant "source" label. Sources share one
// name and help text so their collectors register side by side.
const (
	DecodeErrorsMetric = "tickgate_feed_decode_errors_total"
	DecodeErrorsHelp   = "Feed payloads rejected as bad ticks, by source."
)
