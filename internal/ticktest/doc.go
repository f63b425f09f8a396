// Package ticktest makes valid feed ticks for tests, every field following
// from the symbol and seq, so a test can rebuild the tick it expects, and
// decodes the bars made of them (Bar), compares played ticks with the
// expected ones (Equal), and reads what a source refused (Refused).
// Test code of the feed adapters uses it; it holds no state.
package ticktest
