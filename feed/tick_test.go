package feed

import (
	"encoding/json"
	"math"
	"testing"
)

func TestAppendJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in := Tick{Symbol: "BRK.B", Seq: 42, Price: 189.31, Size: 100, Bid: 189.3, Ask: 189.32, TS: 1732470000123456789}
	b := in.AppendJSON(nil)
	want := `{"type":"tick","sym":"BRK.B","seq":42,"px":189.31,"sz":100,"bid":189.3,"ask":189.32,"ts":1732470000123456789}`
	if string(b) != want {
		t.Fatalf("AppendJSON = %s\nwant          %s", b, want)
	}
	out, err := DecodeJSON(b)
	if err != nil || out != in {
		t.Fatalf("DecodeJSON = %+v, %v; want %+v", out, err, in)
	}
}

func TestSyntheticJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in := Tick{Symbol: "AAPL", Seq: 7, Price: 189.31, Size: 100, Bid: 189.3, Ask: 189.32, TS: 1732470000000000000, Epoch: "k3x9f0a1b2c4", Synthetic: true}
	want := `{"type":"tick","sym":"AAPL","seq":7,"px":189.31,"sz":100,"bid":189.3,"ask":189.32,"ts":1732470000000000000,"synthetic":true}`
	if got := string(in.AppendJSON(nil)); got != want {
		t.Fatalf("AppendJSON = %s\nwant          %s", got, want)
	}
	out, err := DecodeJSON(in.AppendUpstreamJSON(nil))
	if err != nil || out != in {
		t.Fatalf("upstream round trip = %+v, %v; want %+v", out, err, in)
	}
}

func TestAppendJSONEscapesOddSymbols(t *testing.T) {
	t.Parallel()
	tk := Tick{Symbol: "a\"b\n", Seq: 1, Price: 1, Bid: 1, Ask: 1, TS: 1}
	if b := tk.AppendJSON(nil); !json.Valid(b) {
		t.Fatalf("invalid JSON for an odd symbol: %s", b)
	}
}

func TestDecodeJSONRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		`not json`,
		`{"type":"quote","sym":"AAPL","seq":1,"px":1,"bid":1,"ask":1,"ts":1}`,
		`{"sym":"aapl","seq":1,"px":1,"bid":1,"ask":1,"ts":1}`,
		`{"sym":"AAPL","seq":0,"px":1,"bid":1,"ask":1,"ts":1}`,
		`{"sym":"AAPL","seq":1,"px":-1,"bid":1,"ask":1,"ts":1}`,
		`{"sym":"AAPL","seq":1,"px":1,"bid":1,"ask":1}`,
		`{"sym":"AAPL","seq":1,"px":1,"sz":-5,"bid":1,"ask":1,"ts":1}`,
		`{"sym":"AAPL","seq":1,"px":1,"bid":1,"ask":1,"ts":1,"epoch":"a b"}`,
		`{"sym":"AAPL","seq":1,"px":1,"bid":1,"ask":1,"ts":1,"epoch":"\""}`,
		`{"sym":"AAPL","seq":1,"px":1,"bid":1,"ask":1,"ts":1,"epoch":"123456789012345678901234567890123"}`,
		`{"sym":"AAPL","seq":1,"px":1,"bid":1,"ask":1,"ts":1,"epoch":7}`,
	} {
		if _, err := DecodeJSON([]byte(s)); err == nil {
			t.Errorf("DecodeJSON(%s) accepted a bad tick", s)
		}
	}
}

func TestAppendJSONZeroAlloc(t *testing.T) {
	tk := Tick{Symbol: "AAPL", Seq: 42, Price: 189.31, Size: 100, Bid: 189.3, Ask: 189.32, TS: 1732470000123456789}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = tk.AppendJSON(buf[:0]) }); n != 0 {
		t.Fatalf("AppendJSON allocates %v times into a large enough buffer", n)
	}
}

// FuzzDecodeJSON checks that any accepted payload is a valid tick that
// survives an encode/decode round trip unchanged.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"type":"tick","sym":"AAPL","seq":42,"px":189.31,"sz":100,"bid":189.3,"ask":189.32,"ts":1732470000123456789}`))
	f.Add([]byte(`{"sym":"BRK.B","seq":1,"px":1e3,"bid":0.5,"ask":2,"ts":5}`))
	f.Add([]byte(`{"type":"tick","sym":"AAPL","seq":1,"px":1,"sz":1,"bid":1,"ask":1,"ts":1,"epoch":"k3x9f0a1b2c4"}`))
	f.Add([]byte(`{"sym":"X","seq":18446744073709551615,"px":1,"bid":1,"ask":1,"ts":9223372036854775807}`))
	f.Add([]byte(`{"type":"tick","sym":"AAPL","seq":1,"px":1,"sz":1,"bid":1,"ask":1,"ts":1,"synthetic":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := DecodeJSON(b)
		if err != nil {
			return
		}
		if verr := tk.Validate(); verr != nil {
			t.Fatalf("accepted invalid tick %+v: %v", tk, verr)
		}
		if math.IsNaN(tk.Price) {
			t.Fatal("NaN price accepted")
		}
		again, err := DecodeJSON(tk.AppendUpstreamJSON(nil))
		if err != nil || again != tk {
			t.Fatalf("round trip of %+v gave %+v, %v", tk, again, err)
		}
	})
}

func TestUpstreamJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in := Tick{Symbol: "AAPL", Seq: 42, Price: 189.31, Size: 100, Bid: 189.3, Ask: 189.32, TS: 1732470000123456789, Epoch: "k3x9f0a1b2c4"}
	b := in.AppendUpstreamJSON(nil)
	want := `{"type":"tick","sym":"AAPL","seq":42,"px":189.31,"sz":100,"bid":189.3,"ask":189.32,"ts":1732470000123456789,"epoch":"k3x9f0a1b2c4"}`
	if string(b) != want {
		t.Fatalf("AppendUpstreamJSON = %s\nwant                  %s", b, want)
	}
	out, err := DecodeJSON(b)
	if err != nil || out != in {
		t.Fatalf("DecodeJSON = %+v, %v; want %+v", out, err, in)
	}
	in.Epoch = ""
	if got, want := string(in.AppendUpstreamJSON(nil)), string(in.AppendJSON(nil)); got != want {
		t.Fatalf("AppendUpstreamJSON without an epoch = %s, want the wire form %s", got, want)
	}
}

func TestNewEpoch(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		e := NewEpoch()
		if len(e) != 12 || !ValidEpoch(e) || e == DefaultEpoch {
			t.Fatalf("NewEpoch() = %q, want 12 valid characters", e)
		}
		for _, c := range e {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'v') {
				t.Fatalf("NewEpoch() = %q: %q is not lower-case base32hex", e, c)
			}
		}
		if seen[e] {
			t.Fatalf("NewEpoch() repeated %q", e)
		}
		seen[e] = true
	}
	if !ValidEpoch(DefaultEpoch) {
		t.Fatal("DefaultEpoch is not a valid epoch")
	}
}

func TestAppendUpstreamJSONZeroAlloc(t *testing.T) {
	tk := Tick{Symbol: "AAPL", Seq: 42, Price: 189.31, Size: 100, Bid: 189.3, Ask: 189.32, TS: 1732470000123456789, Epoch: "k3x9f0a1b2c4"}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = tk.AppendUpstreamJSON(buf[:0]) }); n != 0 {
		t.Fatalf("AppendUpstreamJSON allocates %v times into a large enough buffer", n)
	}
}
