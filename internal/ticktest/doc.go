// Package ticktest makes valid feed ticks for tests, every field following
// from the symbol and seq, so a test can rebuild the tick it expects, and
// decodes the bars made of them (Bar), and compares played ticks with
// the expected ones (Equal).
// Test code of the feed adapters uses it; it holds no state.
package ticktest
