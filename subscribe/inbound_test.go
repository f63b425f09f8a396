package subscribe

import (
	"bytes"
	"testing"
)

// TestFrameScannerSplits feeds a stream of mixed frames whole and in
// small pieces: the frame count must agree however the stream is cut, and
// a new message inside a fragmented one is a violation.
func TestFrameScannerSplits(t *testing.T) {
	t.Parallel()
	var stream []byte
	stream = append(stream, frame(0x81, []byte(`{"op":"list"}`))...)
	stream = append(stream, frame(0x01, []byte(`{"op":`))...)               // opens a message
	stream = append(stream, frame(0x89, []byte("ping"))...)                 // control inside it
	stream = append(stream, frame(0x00, nil)...)                            // empty continuation
	stream = append(stream, frame(0x80, []byte(`"list"}`))...)              // ends it
	stream = append(stream, frame(0x82, bytes.Repeat([]byte{'x'}, 300))...) // 16-bit length
	stream = append(stream, frame(0x8a, nil)...)                            // pong
	for _, step := range []int{len(stream), 1, 7} {
		var s frameScanner
		frames := 0
		for p := stream; len(p) > 0; {
			k := min(step, len(p))
			frames += s.scan(p[:k])
			p = p[k:]
		}
		if frames != 7 || s.bad || s.inMsg {
			t.Errorf("step %d: %d frames, bad %v, open message %v; want 7, false, false", step, frames, s.bad, s.inMsg)
		}
	}
	var s frameScanner
	s.scan(frame(0x01, nil))
	if s.scan(frame(0x81, nil)); !s.bad {
		t.Error("a new text message inside a fragmented one was not a violation")
	}
}
