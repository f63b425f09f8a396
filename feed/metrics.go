package feed

// DecodeErrorsMetric names the counter of messages each source refuses
// before they reach its sink (Refusals), told apart by a constant "source"
// label and the "kind" and "reason" labels. Sources share one name and
// help text so their collectors register side by side.
const (
	DecodeErrorsMetric = "tickgate_feed_decode_errors_total"
	DecodeErrorsHelp   = "Feed messages refused before they reach the engine, by source, kind (tick, book, status, listing) and reason."
)
