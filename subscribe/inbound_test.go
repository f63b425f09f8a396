package subscribe

import (
	"bytes"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
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

// meteredPipe is a meteredReader over one end of an in-memory pipe with
// the default limits (100 frames/s, 64 KiB/s, 10 s of burst), and the
// other end for the client. Both ends close when the test ends.
func meteredPipe(t *testing.T) (*meteredReader, net.Conn) {
	srv, cli := net.Pipe()
	t.Cleanup(func() { srv.Close(); cli.Close() })
	r := new(meteredReader)
	r.init(srv, meterLimits{bytes: 64 << 10, frames: 100, window: 10 * time.Second})
	return r, cli
}

// TestInboundFloodCutOffAtBurst floods a metered connection with empty
// continuation frames as fast as it reads, on a fake clock that does not
// move meanwhile: the meter must refuse the read that overdraws the
// burst of 1,000 frames, so the flood is cut off after the burst and
// before any time passes. How long that takes over a real socket is the
// machine's speed, not the meter's.
func TestInboundFloodCutOffAtBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ic, cli := meteredPipe(t)
		empty := frame(0x00, nil)
		go func() {
			cli.Write(frame(0x01, nil)) // opens a message
			chunk := bytes.Repeat(empty, 100)
			for {
				if _, err := cli.Write(chunk); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		read, buf := 0, make([]byte, 4096)
		var err error
		for err == nil {
			var n int
			n, err = ic.Read(buf)
			read += n
		}
		if err != ReasonInboundFlood {
			t.Fatalf("flood ended with %v, want %v", err, ReasonInboundFlood)
		}
		// The read that overdraws is refused whole, so up to one buffer's
		// worth of the burst goes unread.
		if frames, least := read/len(empty), 1000-len(buf)/len(empty); frames > 1001 || frames < least {
			t.Errorf("%d frames read before the cut-off, want the burst of 1,000 less at most one read (%d) and with the opening frame", frames, least)
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("cut off after %v on the fake clock, want at once", took)
		}
	})
}

// TestInboundUnderRateNotCutOff sends 90 frames a second for a fake
// minute, under the meter's 100: the connection must never be cut off.
func TestInboundUnderRateNotCutOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ic, cli := meteredPipe(t)
		go func() {
			defer cli.Close()
			cli.Write(frame(0x01, nil))
			for range 60 {
				cli.Write(bytes.Repeat(frame(0x00, nil), 90))
				time.Sleep(time.Second)
			}
		}()
		buf := make([]byte, 4096)
		var err error
		for err == nil {
			_, err = ic.Read(buf)
		}
		if err != io.EOF {
			t.Fatalf("connection under the rate ended with %v, want io.EOF when the client left", err)
		}
	})
}
