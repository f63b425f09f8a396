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
	// maxTicks caps the ticks held in memory, about 100 bytes each: 1 GB.
	maxTicks = 10_000_000
	// maxLine is the longest line read; a tick line is about 150 bytes, so a
	// longer one means the file is not a tick file at all.
	maxLine = 64 * 1024
	// maxLogged is how many bad lines are logged one by one; the rest are
	// summed up in one line.
	maxLogged = 10
)

// record is one tick of the file and what Run needs to time and renumber it.
type record struct {
	tick feed.Tick
	at   time.Duration // recorded time since the first tick; never decreases
	sym  int           // index of tick.Symbol in file.names
}

// file is the parsed content of a replay file.
type file struct {
	records []record
	names   []string // symbols in order of first appearance
	maxSeq  []uint64 // highest seq of each symbol, by index in names
	bad     int      // lines skipped as malformed
}

// loader builds a file line by line.
type loader struct {
	path   string
	log    *slog.Logger
	decode func([]byte) (feed.Tick, error) // nil for CSV until its header
	index  map[string]int                  // symbol → index in f.names
	lastTS int64
	f      file
}

// load reads and parses the file at path in format (formatCSV or
// formatNDJSON), logging bad lines to log.
func load(path, format string, log *slog.Logger) (*file, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer fh.Close()
	l := &loader{path: path, log: log, index: make(map[string]int)}
	if format == formatNDJSON {
		l.decode = feed.DecodeJSON
	}
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
// unusable; a bad tick is logged, counted and skipped.
func (l *loader) line(n int, b []byte) error {
	if n == 1 {
		b = bytes.TrimPrefix(b, []byte("\uFEFF")) // a byte order mark
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if l.decode == nil {
		cols, err := parseHeader(b)
		if err != nil {
			return fmt.Errorf("replay: %s: line %d: %w", l.path, n, err)
		}
		l.decode = cols.decode
		return nil
	}
	t, err := l.decode(b)
	if err != nil {
		l.skip(n, err)
		return nil
	}
	if len(l.f.records) == maxTicks {
		return fmt.Errorf("replay: %s: line %d: more than %d ticks", l.path, n, maxTicks)
	}
	l.add(t)
	return nil
}

// skip logs and counts bad line n.
func (l *loader) skip(n int, err error) {
	if l.f.bad++; l.f.bad <= maxLogged {
		l.log.Warn("skipped bad line", "path", l.path, "line", n, "err", err)
	}
}

// add appends a valid tick, interning its symbol.
func (l *loader) add(t feed.Tick) {
	i, ok := l.index[t.Symbol]
	if !ok {
		i = len(l.f.names)
		l.index[t.Symbol] = i
		l.f.names = append(l.f.names, t.Symbol)
		l.f.maxSeq = append(l.f.maxSeq, 0)
	}
	t.Symbol = l.f.names[i]
	l.f.maxSeq[i] = max(l.f.maxSeq[i], t.Seq)
	var at time.Duration
	if k := len(l.f.records); k > 0 {
		// A tick stamped before its predecessor is due with it.
		at = l.f.records[k-1].at + time.Duration(max(t.TS-l.lastTS, 0))
	}
	l.lastTS = t.TS
	l.f.records = append(l.f.records, record{tick: t, at: at, sym: i})
}

// finish checks that the file had ticks and logs the bad-line summary.
func (l *loader) finish() (*file, error) {
	if l.f.bad > maxLogged {
		l.log.Warn("skipped more bad lines than were logged", "path", l.path, "bad_lines", l.f.bad, "logged", maxLogged)
	}
	if len(l.f.records) == 0 {
		if l.decode == nil {
			return nil, fmt.Errorf("replay: %s: empty file", l.path)
		}
		return nil, fmt.Errorf("replay: %s: no valid ticks (%d bad lines)", l.path, l.f.bad)
	}
	return &l.f, nil
}
