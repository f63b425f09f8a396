package subscribe

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// writeLanes run the sessions' writers. Each session belongs to one lane
// (round robin, one lane per P). A session whose queue gets something is
// appended to its lane's ready list, and the lane's one worker goroutine
// writes the ready sessions one after another. So a shard batch that wakes
// a thousand clients costs one goroutine start, not a thousand, and an
// idle lane, like an idle client, holds no goroutine.
//
// A worker must never wait on one socket while others are ready. So the
// worker writes only frames that go out at once. The moment a write on
// its session would block (the socket's buffer is full; the frameWriter
// sees it, outbound.go), or another goroutine's write on that socket
// already blocks, the worker is detached: a new worker takes over the
// lane, and the detached goroutine stays with that one session, as its
// own writer, until the queue is empty. Closes and failed writes, which
// can wait on the peer, also leave the lane for a goroutine of their own.
//
// The ready list is intrusive (session.nextReady) and holds a session at most
// once (fanout.Client runs at most one writer per client), so it is
// bounded by the number of sessions and appending allocates nothing.
type writeLanes struct {
	lanes []lane
	next  atomic.Uint32 // round robin for newSession
}

// lane is one ready list and its worker.
type lane struct {
	mu         sync.Mutex // protects the fields below
	head, tail *session
	running    bool // a worker runs and will pop until the list is empty

	_ [64]byte // keep lanes on separate cache lines
}

// laneWorker is one goroutine working a lane; detached is set once it has
// handed the lane to a successor.
type laneWorker struct {
	lane     *lane
	detached atomic.Bool
}

func newWriteLanes(n int) *writeLanes {
	return &writeLanes{lanes: make([]lane, n)}
}

// pick assigns a new session its lane.
func (wl *writeLanes) pick() *lane {
	return &wl.lanes[int(wl.next.Add(1))%len(wl.lanes)]
}

// ready queues s for its lane's worker, starting the worker if none runs.
// fanout.Client calls it (as the start function) at most once per writer
// run, so s is never in the list twice.
func (l *lane) ready(s *session) {
	l.mu.Lock()
	if l.tail == nil {
		l.head = s
	} else {
		l.tail.nextReady = s
	}
	l.tail = s
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if start {
		go l.work()
	}
}

// pop takes the next ready session; with none, the worker must end, and
// the next ready starts a new one.
func (l *lane) pop() *session {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.head
	if s == nil {
		l.running = false
		return nil
	}
	l.head, s.nextReady = s.nextReady, nil
	if l.head == nil {
		l.tail = nil
	}
	return s
}

// yieldEvery is how many sessions a worker writes between yields.
//
// A worker that writes a thousand ready sessions back to back runs for
// 20 ms without passing through the scheduler. The Go runtime's sysmon
// then takes it for a goroutine hogging its P: it preempts it after
// 10 ms, and if that finds the worker in a write system call, hands the
// P to another thread, and it keeps polling every 20 µs. On the gateway's
// pinned core that cost more than the goroutine starts the lanes save
// (docs/performance-history.md, "The levers"). A runtime.Gosched every few hundred
// microseconds tells the scheduler the worker is cooperative, for about
// 100 ns each.
const yieldEvery = 32

// work is a lane's worker: it writes ready sessions until the list is
// empty or it is detached.
func (l *lane) work() {
	w := &laneWorker{lane: l}
	for n := 1; !w.detached.Load(); n++ {
		s := l.pop()
		if s == nil {
			return
		}
		s.writeOnLane(w)
		if n%yieldEvery == 0 {
			runtime.Gosched()
		}
	}
}

// detach hands the lane to a new worker; w goes on with its one session.
// Only the first call does anything.
func (w *laneWorker) detach() {
	if w.detached.CompareAndSwap(false, true) {
		go w.lane.work()
	}
}
