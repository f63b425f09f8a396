package replay

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/tickgate/tickgate/feed"
)

// csvFields are the CSV columns a header must name, in Tick field order:
//
//	sym  symbol, as feed.ValidSymbol accepts (BRK.B)
//	seq  per-symbol sequence number from 1
//	px   last price
//	sz   last size, >= 0
//	bid  best bid
//	ask  best ask
//	ts   recorded time in Unix nanoseconds
//
// A header names them in any order, in any case; other columns are ignored.
// Fields are split on every comma: there is no quoting.
var csvFields = [...]string{"sym", "seq", "px", "sz", "bid", "ask", "ts"}

// columns maps a CSV file's records onto ticks: pos[i] is the position of
// csvFields[i] in a record of n fields.
type columns struct {
	n   int
	pos [len(csvFields)]int
}

// parseHeader reads a CSV header line. Names are matched without regard to
// case or surrounding space; unknown names are columns to ignore.
func parseHeader(line []byte) (*columns, error) {
	c := &columns{}
	for i := range c.pos {
		c.pos[i] = -1
	}
	names := strings.Split(string(line), ",")
	c.n = len(names)
	for i, name := range names {
		name = strings.ToLower(strings.TrimSpace(name))
		for f, want := range csvFields {
			if name != want {
				continue
			}
			if c.pos[f] >= 0 {
				return nil, fmt.Errorf("csv header: column %q twice", want)
			}
			c.pos[f] = i
		}
	}
	for f, p := range c.pos {
		if p < 0 {
			return nil, fmt.Errorf("csv header: no %q column (want %s)", csvFields[f], strings.Join(csvFields[:], ","))
		}
	}
	return c, nil
}

// decode parses one CSV record into a valid tick.
func (c *columns) decode(line []byte) (feed.Tick, error) {
	if n := bytes.Count(line, []byte(",")) + 1; n != c.n {
		return feed.Tick{}, fmt.Errorf("%w: %d fields, header has %d", feed.ErrBadTick, n, c.n)
	}
	fields := strings.Split(string(line), ",")
	field := func(f int) string { return strings.TrimSpace(fields[c.pos[f]]) }
	var (
		t    feed.Tick
		errs [len(csvFields)]error
	)
	t.Symbol = field(0)
	t.Seq, errs[1] = strconv.ParseUint(field(1), 10, 64)
	t.Price, errs[2] = strconv.ParseFloat(field(2), 64)
	t.Size, errs[3] = strconv.ParseInt(field(3), 10, 64)
	t.Bid, errs[4] = strconv.ParseFloat(field(4), 64)
	t.Ask, errs[5] = strconv.ParseFloat(field(5), 64)
	t.TS, errs[6] = strconv.ParseInt(field(6), 10, 64)
	for f, err := range errs {
		if err != nil {
			return feed.Tick{}, fmt.Errorf("%w: column %s: %w", feed.ErrBadTick, csvFields[f], err)
		}
	}
	return t, t.Validate()
}
