package feed

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// The vectors in testdata/book_checksums.json were computed outside Go
// (Python's zlib.crc32 over the documented string), so they check the
// definition, not this code against itself. The JS client's tests read
// the same file.
func TestChecksumVectors(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/book_checksums.json")
	if err != nil {
		t.Fatal(err)
	}
	var vecs []struct {
		Bids, Asks []Level
		String     string
		Checksum   uint32
	}
	if err := json.Unmarshal(raw, &vecs); err != nil {
		t.Fatal(err)
	}
	if len(vecs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vecs {
		if s := string(AppendChecksumString(nil, v.Bids, v.Asks)); s != v.String {
			t.Errorf("checksum string = %q, want %q", s, v.String)
		}
		if c := Checksum(v.Bids, v.Asks); c != v.Checksum {
			t.Errorf("Checksum(%q) = %d, want %d", v.String, c, v.Checksum)
		}
	}
}

func TestBookRoundTrip(t *testing.T) {
	t.Parallel()
	in := Book{Symbol: "AAPL", Seq: 12, TS: 1732470000123456789, Epoch: "k3x9f0a1b2c4", Snapshot: true,
		Bids: []Level{{189.3, 200}, {189.29, 500}}, Asks: []Level{{189.32, 100}}}
	up := in.AppendUpstreamJSON(nil)
	want := `{"type":"book","sym":"AAPL","seq":12,"bids":[[189.3,200],[189.29,500]],"asks":[[189.32,100]],"ts":1732470000123456789,"epoch":"k3x9f0a1b2c4"}`
	if string(up) != want {
		t.Fatalf("AppendUpstreamJSON = %s\nwant                 %s", up, want)
	}
	out, err := DecodeBook(up)
	if err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("DecodeBook = %+v, %v; want %+v", out, err, in)
	}

	upd := Book{Symbol: "AAPL", Seq: 13, TS: 1, Bids: []Level{{189.3, 0}}, Asks: []Level{{189.33, 300}}}
	wire := upd.AppendJSON(nil, 57838067)
	want = `{"type":"book_update","sym":"AAPL","seq":13,"checksum":57838067,"bids":[[189.3,0]],"asks":[[189.33,300]],"ts":1}`
	if string(wire) != want {
		t.Fatalf("AppendJSON = %s\nwant         %s", wire, want)
	}
	if !json.Valid(wire) {
		t.Fatal("invalid JSON")
	}
	if back, err := DecodeBook(wire); err != nil || back.Snapshot || back.Seq != 13 {
		t.Fatalf("DecodeBook(wire form) = %+v, %v", back, err)
	}
}

func TestDecodeBookRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		`not json`,
		`{"type":"tick","sym":"AAPL","seq":1,"ts":1}`,
		`{"type":"book_update","sym":"aapl","seq":1,"ts":1}`,
		`{"type":"book_update","sym":"AAPL","seq":0,"ts":1}`,
		`{"type":"book_update","sym":"AAPL","seq":1}`,
		`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"bids":[[1,-5]]}`,
		`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"bids":[[-1,5]]}`,
		`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"bids":[[1,5],[2,5]]}`,
		`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"asks":[[2,5],[1,5]]}`,
		`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"asks":[[2,5],[2,6]]}`,
		`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"asks":[[2,5.5]]}`,
		`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"asks":[[2]]}`,
		`{"type":"book","sym":"AAPL","seq":1,"ts":1,"bids":[[2,5]],"asks":[[2,5]]}`,
		`{"type":"book","sym":"AAPL","seq":1,"ts":1,"bids":[[2,0]]}`,
		`{"type":"book","sym":"AAPL","seq":1,"ts":1,"epoch":"a b"}`,
	} {
		if _, err := DecodeBook([]byte(s)); err == nil {
			t.Errorf("DecodeBook(%s) accepted a bad book", s)
		}
	}
}

func TestBookAppendJSONZeroAlloc(t *testing.T) {
	b := Book{Symbol: "AAPL", Seq: 13, TS: 1, Bids: []Level{{189.3, 0}, {189.2, 10}}, Asks: []Level{{189.33, 300}}}
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = b.AppendJSON(buf[:0], Checksum(b.Bids, b.Asks)) }); n != 0 {
		t.Fatalf("AppendJSON and Checksum allocate %v times into a large enough buffer", n)
	}
}

func TestStatusRoundTrip(t *testing.T) {
	t.Parallel()
	in := Status{Symbol: "AAPL", Status: StatusHalted, Reason: "LUDP", Seq: 3, TS: 1732470000123456789, Epoch: "k3x9f0a1b2c4"}
	up := in.AppendUpstreamJSON(nil)
	want := `{"type":"status","sym":"AAPL","seq":3,"status":"halted","reason":"LUDP","ts":1732470000123456789,"epoch":"k3x9f0a1b2c4"}`
	if string(up) != want {
		t.Fatalf("AppendUpstreamJSON = %s\nwant                 %s", up, want)
	}
	out, err := DecodeStatus(up)
	if err != nil || out != in {
		t.Fatalf("DecodeStatus = %+v, %v; want %+v", out, err, in)
	}
	open := Status{Symbol: "AAPL", Status: StatusOpen, Seq: 4, TS: 2}
	if got := string(open.AppendJSON(nil)); got != `{"type":"status","sym":"AAPL","seq":4,"status":"open","ts":2}` {
		t.Fatalf("AppendJSON = %s", got)
	}
}

func TestDecodeStatusRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		`{"type":"status","sym":"AAPL","seq":1,"status":"paused","ts":1}`,
		`{"type":"status","sym":"AAPL","seq":1,"status":"stale","ts":1}`,
		`{"type":"status","sym":"AAPL","seq":1,"status":"halted","reason":"a b","ts":1}`,
		`{"type":"status","sym":"AAPL","seq":1,"status":"halted","reason":"12345678901234567","ts":1}`,
		`{"type":"status","sym":"AAPL","seq":0,"status":"open","ts":1}`,
		`{"type":"status","sym":"AAPL","seq":1,"status":"open"}`,
		`{"type":"tick","sym":"AAPL","seq":1,"status":"open","ts":1}`,
	} {
		if _, err := DecodeStatus([]byte(s)); err == nil {
			t.Errorf("DecodeStatus(%s) accepted a bad status", s)
		}
	}
}

// FuzzDecodeBook checks that any accepted book encodes to valid JSON that
// decodes to the same book.
func FuzzDecodeBook(f *testing.F) {
	f.Add([]byte(`{"type":"book","sym":"AAPL","seq":12,"bids":[[189.3,200]],"asks":[[189.32,100]],"ts":1}`))
	f.Add([]byte(`{"type":"book_update","sym":"AAPL","seq":13,"bids":[[189.3,0]],"asks":[],"ts":1,"epoch":"x"}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := DecodeBook(p)
		if err != nil {
			return
		}
		up := b.AppendUpstreamJSON(nil)
		if !json.Valid(up) {
			t.Fatalf("invalid upstream JSON %s", up)
		}
		back, err := DecodeBook(up)
		if err != nil || !reflect.DeepEqual(normal(back), normal(b)) {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, b)
		}
	})
}

// normal makes empty and nil sides equal for comparison.
func normal(b Book) Book {
	if len(b.Bids) == 0 {
		b.Bids = nil
	}
	if len(b.Asks) == 0 {
		b.Asks = nil
	}
	return b
}
