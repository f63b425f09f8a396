package sim

import (
	"fmt"

	"github.com/tickgate/tickgate/feed"
)

// Limits of the depth fields of Config.
const (
	defaultDepth = 10
	maxDepth     = 100
	maxHalts     = 3600 // an hour
)

// depthDefaults returns cfg with its zero depth fields replaced by their
// defaults.
func (cfg Config) depthDefaults() Config {
	if cfg.Depth == 0 {
		cfg.Depth = defaultDepth
	}
	if cfg.HaltDuration == 0 {
		cfg.HaltDuration = defaultHaltDuration
	}
	return cfg
}

// validateDepth reports the first problem with the defaulted depth fields.
// The negated comparisons also reject NaN.
func (cfg Config) validateDepth() error {
	switch {
	case cfg.Depth < 1 || cfg.Depth > maxDepth:
		return fmt.Errorf("sim: depth %d out of range [1, %d]", cfg.Depth, maxDepth)
	case !(cfg.Churn >= 0 && cfg.Churn <= 1):
		return fmt.Errorf("sim: churn %v out of range [0, 1]", cfg.Churn)
	case !(cfg.HaltsPerHour >= 0 && cfg.HaltsPerHour <= maxHalts):
		return fmt.Errorf("sim: halts per hour %v out of range [0, %d]", cfg.HaltsPerHour, maxHalts)
	case cfg.HaltDuration < 0:
		return fmt.Errorf("sim: negative halt duration %v", cfg.HaltDuration)
	}
	return nil
}

// validateResumeDepth checks ResumeBooks and ResumeStatus against Resume:
// each for a resumed symbol, in its tick's epoch, once.
func (cfg Config) validateResumeDepth() error {
	epochs := make(map[string]string, len(cfg.Resume))
	for _, t := range cfg.Resume {
		epochs[t.Symbol] = t.Epoch
	}
	check := func(what, sym, epoch string, seen map[string]bool) error {
		if e, ok := epochs[sym]; !ok || e != epoch || seen[sym] {
			return fmt.Errorf("sim: resume %s: %s: not a resumed symbol, of another epoch than its tick (%q), or resumed twice", what, sym, epoch)
		}
		seen[sym] = true
		return nil
	}
	seen := make(map[string]bool)
	for _, b := range cfg.ResumeBooks {
		if err := check("book", b.Symbol, b.Epoch, seen); err != nil {
			return err
		}
	}
	clear(seen)
	for _, st := range cfg.ResumeStatus {
		if err := check("status", st.Symbol, st.Epoch, seen); err != nil {
			return err
		}
	}
	return nil
}

// newDepth sets up the books and trading states of a Source New is making
// from the defaulted cfg, each symbol with its share of the turns; rank
// finds a resumed symbol in s.syms (resumedRanks). Its draws follow the
// symbols', in a fixed order.
func (s *Source) newDepth(cfg Config, rank map[string]int) {
	s.depth, s.churn, s.halting = cfg.Depth, cfg.Churn, cfg.HaltsPerHour > 0
	s.halts = make([]halt, len(s.syms))
	for i := range s.halts {
		s.halts[i] = newHalt(s.shares[i], cfg.Rate, cfg.HaltsPerHour, cfg.HaltDuration)
	}
	for _, st := range cfg.ResumeStatus {
		s.halts[rank[st.Symbol]].seq = st.Seq
	}
	if !cfg.Book {
		return
	}
	s.books = make([]*book, len(s.syms))
	for i := range s.books {
		s.books[i] = newBook(cfg.Depth) // built by start, around the price Run starts from
	}
	for _, b := range cfg.ResumeBooks {
		s.books[rank[b.Symbol]].seq = b.Seq
	}
}

// outlet is where Run hands what the feed makes: every tick to sink, and
// books and status to depth when the sink is a feed.DepthSink (else they
// are not made into messages at all; the model runs the same, so the ticks
// are too).
type outlet struct {
	sink  feed.Sink
	depth feed.DepthSink // nil: ticks alone
	msg   feed.Book      // every book message, its level slices reused
}

func newOutlet(sink feed.Sink, depth int) *outlet {
	out := &outlet{sink: sink}
	if d, ok := sink.(feed.DepthSink); ok {
		out.depth = d
		// An update lists at most every level before and after: 2·depth.
		out.msg.Bids = make([]feed.Level, 0, 2*depth)
		out.msg.Asks = make([]feed.Level, 0, 2*depth)
	}
	return out
}

// start builds each symbol's book around its price (after any backfill)
// and tells out's DepthSink, before any live tick, each symbol's trading
// state and, with books, its book as a snapshot: what a receiver needs to
// show them from the start of the run. It draws from the RNG whatever the
// sink, so the ticks after it do not depend on the sink.
func (s *Source) start(ts int64, out *outlet) {
	for i, b := range s.books {
		b.follow(s.syms[i].px, s.depth, s.rng)
	}
	if out.depth == nil {
		return
	}
	for i := range s.syms {
		s.sendStatus(i, ts, out)
		if s.books != nil {
			s.sendBook(i, ts, out)
		}
	}
}

// step advances the feed by one turn of a symbol, stamped ts: its trading
// state may change, and unless it is halted it trades. Run calls it for
// every turn; tests call it to check the sequence without timing. It
// draws from the RNG in a fixed order, which makes a seed reproducible
// whatever the sink.
func (s *Source) step(ts int64, out *outlet) {
	i := s.pick()
	if s.halting && !s.open(i, ts, out) {
		return
	}
	if s.books == nil {
		sym := &s.syms[i]
		out.sink.Publish(s.tick(sym, sym.drift, sym.vol, ts))
		return
	}
	s.trade(i, ts, out)
}

// open takes symbol i's turn in its trading state (halt.turn), sending a
// change, and reports whether it is open to trade. A symbol that is not
// open misses its trade, but its price moves on.
func (s *Source) open(i int, ts int64, out *outlet) bool {
	h := &s.halts[i]
	if h.turn(s.rng) {
		s.sendStatus(i, ts, out)
	}
	if h.state == feed.StatusOpen {
		return true
	}
	sym := &s.syms[i]
	sym.px = step(sym.px, sym.drift, sym.vol, s.rng.NormFloat64())
	return false
}

// trade makes symbol i's next trade at the touch of its book: the quote
// follows the new price (sent first if the receiver's book would not show
// the trade's bid and ask), the trade takes from the touch, and with
// chance Churn the book changes further and is sent.
func (s *Source) trade(i int, ts int64, out *outlet) {
	sym, b := &s.syms[i], s.books[i]
	sym.seq++
	sym.px = step(sym.px, sym.drift, sym.vol, s.rng.NormFloat64())
	b.follow(sym.px, s.depth, s.rng)
	if out.depth != nil && b.touchStale() {
		s.sendBook(i, ts, out)
	}
	bid, ask := b.bids[0].px, b.asks[0].px
	r := s.rng.Uint64()
	px, sz := b.trade(r>>63 == 1, lotSize(r))
	out.sink.Publish(feed.Tick{
		Symbol: sym.name,
		Seq:    sym.seq,
		Price:  dollars(px),
		Size:   sz,
		Bid:    dollars(bid),
		Ask:    dollars(ask),
		TS:     ts,
		Epoch:  sym.epoch,
	})
	if s.churn > 0 && s.rng.Float64() < s.churn {
		b.churn(s.depth, s.rng)
		if out.depth != nil {
			s.sendBook(i, ts, out)
		}
	}
}

// sendBook hands symbol i's book to out's DepthSink as its next message:
// the changes since the last one, or a snapshot (book.message). Nothing
// goes if nothing changed.
func (s *Source) sendBook(i int, ts int64, out *outlet) {
	if !s.books[i].message(&out.msg, ts) {
		return
	}
	out.msg.Symbol, out.msg.Epoch = s.syms[i].name, s.syms[i].epoch
	out.depth.PublishBook(out.msg)
}
