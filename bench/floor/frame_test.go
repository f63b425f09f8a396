package main

import (
	"bytes"
	"testing"
)

// TestAppendFrame checks the three RFC 6455 length encodings of an
// unmasked final text frame.
func TestAppendFrame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n      int
		header []byte
	}{
		{5, []byte{0x81, 5}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{70000, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70}},
	} {
		payload := bytes.Repeat([]byte{'x'}, tc.n)
		got := appendFrame(nil, payload)
		if !bytes.Equal(got[:len(tc.header)], tc.header) || !bytes.Equal(got[len(tc.header):], payload) {
			t.Errorf("appendFrame(%d bytes): header % x, want % x", tc.n, got[:len(tc.header)], tc.header)
		}
	}
}
