// Package booktest is a receiver of a feed's ticks, books and status, as
// a gateway must be: Receiver, a feed.DepthSink, applies every book
// message to its own copy of each symbol's book (Book) and follows each
// symbol's status, and checks at every message what a feed promises: seqs
// that run on by one, a snapshot before any update, books within depth and
// never crossed, trades at the touch its book shows, no trade while a
// symbol is not open. Test code of feed/sim and feed/replay uses it; a
// Receiver belongs to the goroutine that feeds it until the test reads it.
package booktest
