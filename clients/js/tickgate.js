// @tickgate/client: a WebSocket client for the tickgate market-data gateway.
//
// ES modules, no runtime dependencies, no build step. It runs in browsers,
// in Node 22+ on the global WebSocket, and in Node 20 with a WebSocket
// constructor passed in (for example from the `ws` package).
//
// It owns what every dashboard otherwise writes by hand: splitting frames on
// "\n", tracking the last seq per (stream, symbol) (a conflated jump is not
// a gap) and the epoch of its seqs, reconnecting with exponential backoff
// and full jitter, resubscribing every live subscription with `since`
// ({seq, epoch}) so the gateway replays what was missed, and a `gap` event
// with its reason when it could not, or when the feed restarted (a reset)
// or lost ticks upstream. Streams are "ticks"
// (the default), the bar streams "bars.1s" and "bars.1m", "book" (the
// client keeps each order book, checks its checksum after every message and
// asks for a fresh snapshot when it differs) and "status" (each symbol's
// trading status, kept). The wire protocol is docs/protocol.md.
//
// This file is the entry point and the whole public API; the modules in
// tickgate/ hold one concern each (README.md, "Layout").

/** @typedef {"connecting"|"open"|"reconnecting"|"closed"} State */

/**
 * @typedef {object} Tick
 * @property {string} type always "tick"
 * @property {string} sym
 * @property {number} seq per-symbol sequence number
 * @property {number} px
 * @property {number} sz
 * @property {number} bid
 * @property {number} ask
 * @property {number} ts feed time, Unix nanoseconds (as a double: ~256 ns precision)
 * @property {number} [n] present when the tick stands for n > 1 feed ticks (conflation)
 * @property {boolean} [synthetic] made up, not traded: the simulator's history before its start
 */

/**
 * @typedef {object} Bar
 * @property {string} type always "bar"
 * @property {string} stream "bars.1s" or "bars.1m"
 * @property {string} sym
 * @property {number} t bucket start, Unix nanoseconds (a whole second: exact as a double)
 * @property {number} o open
 * @property {number} h high
 * @property {number} l low
 * @property {number} c close
 * @property {number} v summed trade size
 * @property {number} n trade count
 * @property {number} seq the bucket number, t divided by the interval (bars.1s: t / 1e9); a gateway before
 *   bucket seqs counts final bars from 1; a partial has the seq it will have when final
 * @property {number} [prev] seq of the final bar before this one (buckets without trades have no bar);
 *   absent on the first bar of a run and from gateways before bucket seqs
 * @property {boolean} [partial] a progress update of the forming bar
 * @property {boolean} [delayed] delayed tier
 * @property {number} [span] present when the final bar stands for span > 1 bar seqs (conflation)
 * @property {boolean} [synthetic] made of synthetic ticks (the simulator's history before its start)
 */

/**
 * @typedef {object} BookMessage
 * @property {"book"|"book_update"} type a snapshot, or the levels that changed
 * @property {string} sym
 * @property {number} seq the book's own sequence number
 * @property {number} checksum CRC-32 of the book after this message (bookChecksum)
 * @property {Array<[number, number]>} bids [price, size], best first; in an update size 0 removes a level
 * @property {Array<[number, number]>} asks
 * @property {number} ts feed time, Unix nanoseconds
 * @property {number} [n] present when the message stands for n > 1 book messages (merged)
 * @property {boolean} [delayed] delayed tier
 */

/**
 * @typedef {object} Status
 * @property {string} type always "status"
 * @property {string} sym
 * @property {"open"|"halted"|"auction"|"closed"|"stale"} status stale: the gateway's view (no tick for a while)
 * @property {string} [reason] the feed's short code, e.g. "LUDP"
 * @property {number} seq the seq of the feed's status in force (0: none); never a reason to drop one
 * @property {number} ts when it took effect, Unix nanoseconds
 */

/**
 * @typedef {object} SubscribeOptions
 * @property {string} [stream] "ticks" (default), "bars.1s", "bars.1m", "book" or "status"
 * @property {number} [maxRate] updates/s per symbol; 0 or absent: every message
 * @property {number} [history] the gateway sends the last N final messages of each newly held symbol instead of the
 *   snapshot; joining a topic this client already holds, the client hands over the ones it kept
 * @property {boolean} [partial] bar streams only: also deliver progress updates of the forming bar
 */

/**
 * @typedef {object} Options
 * @property {typeof WebSocket} [WebSocket] constructor to use; default globalThis.WebSocket
 * @property {string} [token] presented on every connect, as tokenIn says
 * @property {"query"|"message"} [tokenIn] where the token goes: "query" (default), the `token`
 *   query parameter of the WebSocket URL; "message", an `auth` message sent first on every
 *   connect, which no proxy or access log records
 * @property {() => Promise<string>|string} [onToken] asked for a new token on close 4003
 *   and shortly before the `exp` of a JWT token, which an open connection then sends as
 *   an `auth` message
 * @property {{base?: number, cap?: number}} [backoff] reconnect delays in ms (default 500, 5000)
 */

export { Client, connect } from "./tickgate/client.js";
export { backoffDelay } from "./tickgate/connection.js";
export { bookChecksum } from "./tickgate/book.js";
export { TickgateError } from "./tickgate/errors.js";
export { barStep, seqStep } from "./tickgate/seq.js";
export { Subscription } from "./tickgate/subscription.js";
export { jwtClaims, jwtExp } from "./tickgate/token.js";
