package replay

// A replay file's book and status lines are the upstream forms
// (feed.Book.AppendUpstreamJSON, feed.Status.AppendUpstreamJSON; a
// checksum or epoch in them is ignored):
//
//	{"type":"book","sym":"AAPL","seq":1,"bids":[[189.3,200]],"asks":[[189.32,100]],"ts":1732470000000000000}
//	{"type":"book_update","sym":"AAPL","seq":2,"bids":[[189.3,0]],"asks":[],"ts":1732470000001000000}
//	{"type":"status","sym":"AAPL","seq":1,"status":"halted","reason":"LUDP","ts":1732470000002000000}
//
// Each symbol's book lines should begin with a snapshot ("book"): the
// receiver builds the book from it, and with Loop each play begins from
// it again. CSV files hold ticks only.

// emitBook hands the book message of r to the DepthSink, if the sink is
// one, as played in play n. Its level slices are the file's: the sink
// reads them during the call only, as feed.DepthSink requires.
func (p *player) emitBook(r *record, n uint64) {
	if p.depth == nil {
		return
	}
	m := p.src.file.books[r.idx]
	p.restamp(r, n, &m.Seq, &m.Epoch, &m.TS)
	p.depth.PublishBook(m)
}

// emitStatus hands the status message of r to the DepthSink, if the sink
// is one, as played in play n.
func (p *player) emitStatus(r *record, n uint64) {
	if p.depth == nil {
		return
	}
	st := p.src.file.statuses[r.idx]
	p.restamp(r, n, &st.Seq, &st.Epoch, &st.TS)
	p.depth.PublishStatus(st)
}
