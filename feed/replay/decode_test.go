package replay

import (
	"bufio"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
)

// FuzzDecodeLine feeds a CSV header and a line to the loader, as CSV and as
// NDJSON: it must never panic, and any message it accepts must be valid.
func FuzzDecodeLine(f *testing.F) {
	const header = "sym,seq,px,sz,bid,ask,ts"
	for _, path := range []string{"testdata/sample.ndjson", "testdata/sample.csv"} {
		fh, err := os.Open(path)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for i := 0; i < 3 && sc.Scan(); i++ {
			f.Add(header, []byte(sc.Text()))
		}
		fh.Close()
	}
	f.Add(" TS ,venue,sym,px,seq,bid,ask,sz", []byte("1,X,BRK.B,1.5,2,1.4,1.6,0\r"))
	f.Add(header, []byte("AAPL,1,NaN,100,1,1,1"))
	f.Add(header, []byte("AAPL,1,1e400,100,1,1,1"))
	f.Add(header, []byte(",,,,,,"))
	f.Add("sym,sym", []byte("A,B"))
	f.Add(header, []byte("\uFEFF"+`{"sym":"A","seq":1,"px":1,"sz":1,"bid":1,"ask":1,"ts":1}`))
	f.Add(header, []byte(`{"type" : "book","sym":"A","seq":1,"bids":[[1,2]],"asks":[[1.5,3]],"ts":1}`))
	f.Add(header, []byte(`{"type":"book_update","sym":"A","seq":2,"bids":[[1,0]],"asks":[],"ts":1}`))
	f.Add(header, []byte(`{"type":"status","sym":"A","seq":1,"status":"halted","reason":"LUDP","ts":1}`))
	f.Add(header, []byte(`{"reason":"type","type":"status","sym":"A","seq":1,"status":"open","ts":1}`))
	f.Fuzz(func(t *testing.T, header string, line []byte) {
		for _, l := range loaders(t, header) {
			if err := l.line(2, line); err != nil {
				t.Fatalf("line: %v (only the header or the tick cap may fail a file)", err)
			}
			for _, r := range l.f.records {
				sym, err := recordOf(l, r)
				if err != nil {
					t.Fatalf("accepted an invalid message from %q: %v", line, err)
				}
				if sym != l.f.names[r.sym] {
					t.Fatalf("record symbol %q at index %d, names %v", sym, r.sym, l.f.names)
				}
			}
			if len(l.f.records)+l.f.bad > 1 {
				t.Fatalf("one line gave %d messages and %d bad lines", len(l.f.records), l.f.bad)
			}
		}
	})
}

// recordOf returns the symbol of r's message in l's file and why the
// message is not valid, if it is not.
func recordOf(l *loader, r record) (string, error) {
	switch r.kind {
	case feed.KindBook:
		m := l.f.books[r.idx]
		return m.Symbol, m.Validate()
	case feed.KindStatus:
		st := l.f.statuses[r.idx]
		return st.Symbol, st.Validate()
	}
	return r.tick.Symbol, r.tick.Validate()
}

// loaders returns an NDJSON loader and, if header parses, a CSV loader
// that has read it as line 1.
func loaders(t *testing.T, header string) []*loader {
	refusals, err := feed.NewRefusals(prometheus.NewRegistry(), "replay", discard())
	if err != nil {
		t.Fatal(err)
	}
	ls := []*loader{{path: "fuzz", log: discard(), refusals: refusals, index: map[string]int{}}}
	csv := &loader{path: "fuzz", log: discard(), refusals: refusals, header: true, index: map[string]int{}}
	if err := csv.line(1, []byte(header)); err == nil && csv.csv != nil {
		ls = append(ls, csv)
	}
	return ls
}
