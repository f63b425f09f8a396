package replay

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tickgate/tickgate/feed"
)

// ndjson decodes one NDJSON line by its "type": a tick ("tick" or none),
// a book message ("book", "book_update") or a status ("status"), each as
// the feed package decodes and checks it, and adds it to the file. It
// returns the line's kind and symbol as far as it can tell them, and why
// the line is bad, if it is. A type it does not know is a malformed tick.
func (l *loader) ndjson(b []byte) (feed.Kind, string, error) {
	switch typ := sniffType(b); typ {
	case "", "tick":
		t, err := feed.DecodeJSON(b)
		if err != nil {
			return feed.KindTick, sniffSymbol(b), err
		}
		l.addTick(t)
		return feed.KindTick, t.Symbol, nil
	case feed.BookSnapshotType, feed.BookUpdateType:
		m, err := feed.DecodeBook(b)
		if err != nil {
			return feed.KindBook, sniffSymbol(b), err
		}
		l.addBook(m)
		return feed.KindBook, m.Symbol, nil
	case feed.StatusType:
		st, err := feed.DecodeStatus(b)
		if err != nil {
			return feed.KindStatus, sniffSymbol(b), err
		}
		l.addStatus(st)
		return feed.KindStatus, st.Symbol, nil
	default:
		return feed.KindTick, sniffSymbol(b), fmt.Errorf("%w: type %q", feed.ErrBadTick, typ)
	}
}

// sniffType returns the "type" of the JSON object b, "" if it has none or
// is not one: it decodes that field alone, so that the line is decoded in
// full once, by the decoder of its kind.
func sniffType(b []byte) string {
	return sniffString(b, `"type"`)
}

// sniffSymbol returns the "sym" of the JSON object b, for telling whose a
// bad line is; "" if it cannot.
func sniffSymbol(b []byte) string {
	return sniffString(b, `"sym"`)
}

// sniffString returns the string value of the first occurrence of key (a
// quoted name) followed by a colon in b, or "". A key name inside another
// string value can fool it; the decoder of the kind it picks then refuses
// the line.
func sniffString(b []byte, key string) string {
	for {
		i := bytes.Index(b, []byte(key))
		if i < 0 {
			return ""
		}
		b = b[i+len(key):]
		rest := bytes.TrimLeft(b, " \t")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t")
		var s string
		if end := bytes.IndexByte(rest[min(1, len(rest)):], '"'); len(rest) > 0 && rest[0] == '"' && end >= 0 {
			if json.Unmarshal(rest[:end+2], &s) == nil {
				return s
			}
		}
		return ""
	}
}
