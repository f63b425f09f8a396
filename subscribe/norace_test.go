//go:build !race

package subscribe

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = false
