package fanout

import "time"

// Progress updates: a bar subscription with Policy.Partial also gets its
// topic's forming bar ("partial":true) at most once per progressPeriod
// slot of Unix time: at once if none went this slot, else when the slot
// ends, encoded then from the bar as it is. They are encoded once per
// send for all the topic's progress subscribers, outside the arena, as
// they are never kept; in a conflating queue they merge by the
// subscription's partial key, apart from its final bars.

// progressPeriod is how often a forming bar's progress is sent at most.
const progressPeriod = int64(time.Second)

// progressSubs is a bar topic's progress updates: the subscriptions that
// take them, each at its progressIdx, and when the last went. shard.mu
// protects it.
type progressSubs struct {
	subs   subList
	slot   int64 // the progressPeriod slot of the last send
	listed bool  // in the shard's progressList, waiting for slot's end
}

// progressOf is tp's progress updates, made now if it has none. The
// caller holds shard.mu.
func (tp *topic) progressOf() *progressSubs {
	if tp.progress == nil {
		tp.progress = new(progressSubs)
	}
	return tp.progress
}

func (p *progressSubs) add(sub *subscription) { sub.progressIdx = p.subs.push(&sub.partial) }

func (p *progressSubs) remove(sub *subscription) {
	if moved := p.subs.removeAt(sub.progressIdx); moved != nil {
		moved.progressIdx = sub.progressIdx
	}
	sub.progressIdx = -1
}

// progressList is the shard's schedule of progress updates: the bar topics
// that sent one this slot and have had their bar change since, due when
// the slot ends. shard.mu protects it.
type progressList struct {
	topics []*topic
	due    int64 // the end of the slot they wait for; 0 for none
}

func (pl *progressList) next() int64 { return pl.due }

// offer tells tp's progress subscribers, if any, that its forming bar
// changed at now: sent at once, or listed for the slot's end.
func (pl *progressList) offer(t *tally, tp *topic, now int64) {
	p := tp.progress
	if p == nil || len(p.subs) == 0 || p.listed {
		return
	}
	slot := now / progressPeriod
	if p.slot < slot {
		p.slot = slot
		tp.sendProgress(t)
		return
	}
	p.listed = true
	pl.topics = append(pl.topics, tp)
	if end := (slot + 1) * progressPeriod; pl.due == 0 || end < pl.due {
		pl.due = end
	}
}

// run sends the progress of the listed topics whose slot has ended by now.
func (pl *progressList) run(s *shard, now int64) {
	slot := now / progressPeriod
	keep := pl.topics[:0]
	for _, tp := range pl.topics {
		p := tp.progress
		if p == nil { // its symbol retired since (topic.forget)
			continue
		}
		if p.slot >= slot { // sent this very slot: wait for its end
			keep = append(keep, tp)
			continue
		}
		tp.sendProgress(&s.t)
		p.slot, p.listed = slot, false
	}
	clear(pl.topics[len(keep):])
	pl.topics = keep
	pl.due = 0
	if len(keep) > 0 {
		pl.due = (slot + 1) * progressPeriod
	}
}

// sendProgress sends tp's forming bar, if any, as a partial bar carrying
// its seq (its bucket's), to every progress subscriber. A bucket joined
// part-way has progress updates too, of the ticks seen, but no final.
func (tp *topic) sendProgress(t *tally) {
	b := tp.sym.bar(tp.stream)
	if !b.open {
		return
	}
	data := b.bar.appendJSON(make([]byte, 0, maxMsgBytes), tp.stream, tp.sym.name, 0, true, tp.sym.mark)
	for _, r := range tp.progress.subs {
		t.queue(r.c, r.key, Message{Data: data})
	}
}
