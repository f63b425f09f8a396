//go:build race

package main

// raceDetector says the tests run under the race detector, which makes
// every tick an order of magnitude dearer: load tests scale down by it.
const raceDetector = true
