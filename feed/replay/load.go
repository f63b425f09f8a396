package replay

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// Limits of what New reads.
const (
	// maxRecords caps the messages held in memory, about 110 bytes a tick:
	// 1 GB.
	maxRecords = 10_000_000
	// maxLine is the longest line read; a tick line is about 150 bytes and
	// a book of 100 levels a side about 4 KB, so a longer one means the
	// file is not a feed file at all.
	maxLine = 64 * 1024
)

// record is one message of the file and what Run needs to time and
// renumber it: a tick inline, a book or status by its index in file.books
// or file.statuses.
type record struct {
	tick feed.Tick     // KindTick
	at   time.Duration // recorded time since the first message; never decreases
	sym  int32         // index of the message's symbol in file.names
	idx  int32         // KindBook, KindStatus: index in file.books, file.statuses
	kind feed.Kind
}

// file is the parsed content of a replay file.
type file struct {
	records  []record
	books    []feed.Book
	statuses []feed.Status
	names    []string    // symbols in order of first appearance
	maxSeq   [3][]uint64 // highest seq of each symbol, by kind then index in names
	bad      int         // lines skipped as bad
}

// loader builds a file line by line.
type loader struct {
	path     string
	log      *slog.Logger
	refusals *feed.Refusals
	csv      *columns       // nil for NDJSON
	header   bool           // CSV: the header is still to come
	index    map[string]int // symbol → index in f.names
	lastTS   int64
	f        file
}

// load reads and parses the file at path in format (formatCSV or
// formatNDJSON), counting and logging bad lines with refusals.
func load(path, format string, refusals *feed.Refusals, log *slog.Logger) (*file, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer fh.Close()
	l := &loader{path: path, log: log, refusals: refusals, header: format == formatCSV, index: make(map[string]int)}
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		if err := l.line(n, sc.Bytes()); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("replay: %s: after line %d: %w", path, n, err)
	}
	return l.finish()
}

// line handles line n. It returns an error only if the whole file is
// unusable; a bad line is counted, logged once per symbol, kind and
// reason (feed.Refusals), and skipped.
func (l *loader) line(n int, b []byte) error {
	if n == 1 {
		b = bytes.TrimPrefix(b, []byte("\uFEFF")) // a byte order mark
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if l.header {
		cols, err := parseHeader(b)
		if err != nil {
			return fmt.Errorf("replay: %s: line %d: %w", l.path, n, err)
		}
		l.csv, l.header = cols, false
		return nil
	}
	if len(l.f.records) == maxRecords {
		return fmt.Errorf("replay: %s: line %d: more than %d messages", l.path, n, maxRecords)
	}
	var err error
	var kind feed.Kind
	var sym string
	if l.csv != nil {
		var t feed.Tick
		if t, err = l.csv.decode(b); err == nil {
			l.addTick(t)
		}
		sym = t.Symbol
	} else {
		kind, sym, err = l.ndjson(b)
	}
	if err != nil {
		l.skip(n, kind, sym, err)
	}
	return nil
}

// skip counts and logs bad line n, of kind for sym as far as it can tell.
func (l *loader) skip(n int, kind feed.Kind, sym string, err error) {
	l.f.bad++
	l.refusals.Refuse(sym, kind, err, "path", l.path, "line", n)
}

// symbol interns sym and returns its index in f.names.
func (l *loader) symbol(sym string) int {
	i, ok := l.index[sym]
	if !ok {
		i = len(l.f.names)
		l.index[sym] = i
		l.f.names = append(l.f.names, sym)
		for k := range l.f.maxSeq {
			l.f.maxSeq[k] = append(l.f.maxSeq[k], 0)
		}
	}
	return i
}

// add appends a record of kind for sym at recorded time ts with seq.
func (l *loader) add(r record, sym string, seq uint64, ts int64) {
	i := l.symbol(sym)
	r.sym = int32(i)
	l.f.maxSeq[r.kind][i] = max(l.f.maxSeq[r.kind][i], seq)
	if k := len(l.f.records); k > 0 {
		// A message stamped before its predecessor is due with it.
		r.at = l.f.records[k-1].at + time.Duration(max(ts-l.lastTS, 0))
	}
	l.lastTS = ts
	l.f.records = append(l.f.records, r)
}

// addTick appends a valid tick, its symbol interned.
func (l *loader) addTick(t feed.Tick) {
	t.Symbol = l.f.names[l.symbol(t.Symbol)]
	l.add(record{tick: t, kind: feed.KindTick}, t.Symbol, t.Seq, t.TS)
}

// addBook appends a valid book message, its symbol interned.
func (l *loader) addBook(m feed.Book) {
	m.Symbol = l.f.names[l.symbol(m.Symbol)]
	l.f.books = append(l.f.books, m)
	l.add(record{kind: feed.KindBook, idx: int32(len(l.f.books) - 1)}, m.Symbol, m.Seq, m.TS)
}

// addStatus appends a valid status message, its symbol interned.
func (l *loader) addStatus(st feed.Status) {
	st.Symbol = l.f.names[l.symbol(st.Symbol)]
	l.f.statuses = append(l.f.statuses, st)
	l.add(record{kind: feed.KindStatus, idx: int32(len(l.f.statuses) - 1)}, st.Symbol, st.Seq, st.TS)
}

// finish checks that the file had messages and logs the bad-line summary.
func (l *loader) finish() (*file, error) {
	if l.f.bad > 0 {
		l.log.Warn("skipped bad lines", "path", l.path, "bad_lines", l.f.bad)
	}
	if len(l.f.records) == 0 {
		if l.header {
			return nil, fmt.Errorf("replay: %s: empty file", l.path)
		}
		return nil, fmt.Errorf("replay: %s: no valid messages (%d bad lines)", l.path, l.f.bad)
	}
	return &l.f, nil
}
