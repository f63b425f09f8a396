// Types for @tickgate/client (tickgate.js, the entry point; the modules of
// tickgate/ behind it are not part of the API). Checked by hand against the
// modules: keep them in step.

/** Connection state, in the order a client goes through them. */
export type State = "connecting" | "open" | "reconnecting" | "closed";

/** One tick as the gateway sends it (docs/protocol.md). */
export interface Tick {
  type: "tick";
  sym: string;
  /** Per-symbol sequence number; +1 per feed tick. */
  seq: number;
  px: number;
  sz: number;
  bid: number;
  ask: number;
  /** Feed time, Unix nanoseconds, parsed as a double (about 256 ns precision). */
  ts: number;
  /** Present when the tick stands for n > 1 feed ticks (conflation); seq is the newest one's. */
  n?: number;
  /** Made up, not traded: the simulator's history before its start (docs/protocol.md). Its ts is no delivery time. */
  synthetic?: boolean;
}

/** A stream a subscription names; the gateway answers `unknown_stream` for others. */
export type Stream = "ticks" | "bars.1s" | "bars.1m" | "book" | "status" | (string & {});

/** One price level: [price, size]. */
export type Level = [price: number, size: number];

/** One message of the "book" stream as the gateway sends it (docs/protocol.md, "The book stream"). */
export interface BookMessage {
  /** "book": a snapshot, which replaces the copy; "book_update": only the levels that changed. */
  type: "book" | "book_update";
  sym: string;
  /** The book's own sequence number, +1 per book message of the symbol, apart from its ticks'. */
  seq: number;
  /** CRC-32 of the book after this message: bookChecksum(bids, asks) of the copy. */
  checksum: number;
  /** Best (highest) first; in an update size 0 removes a level. */
  bids: Level[];
  /** Best (lowest) first. */
  asks: Level[];
  /** Feed time of the (last) book message, Unix nanoseconds. */
  ts: number;
  /** Present when the message stands for n > 1 book messages (max rate, a lagging client); seq is the last. */
  n?: number;
  /** Delayed tier. */
  delayed?: boolean;
}

/**
 * The client's copy of one symbol's order book (Client.book). Its sides are live: the next message
 * changes them in place, so copy what you keep. The object lasts while the connection holds the book,
 * through reconnects and resyncs.
 */
export interface Book {
  readonly sym: string;
  /** Seq of the last message applied. */
  readonly seq: number;
  /** Feed time of the last message applied, Unix nanoseconds. */
  readonly ts: number;
  /** Best (highest) first; never more than the gateway's book_depth. */
  readonly bids: ReadonlyArray<Readonly<Level>>;
  /** Best (lowest) first. */
  readonly asks: ReadonlyArray<Readonly<Level>>;
  /**
   * The last message's checksum proved the copy, and nothing since made it doubtful. False before the
   * first snapshot, after a gap, a reset, a recovery answered with a snapshot, or a resync: the levels
   * are then the last known ones, and a snapshot is on its way.
   */
  readonly synced: boolean;
  /** The checksum of the copy as it is now. */
  readonly checksum: number;
}

/** A trading status as the gateway sends it; each is the symbol's whole state. */
export interface Status {
  type: "status";
  sym: string;
  /** open, halted, auction, closed from the feed; stale: the gateway's view (no tick for status.stale_after). */
  status: "open" | "halted" | "auction" | "closed" | "stale" | (string & {});
  /** The feed's short code for it, e.g. "LUDP" (limit up/limit down), "T1". */
  reason?: string;
  /** Seq of the feed's status in force (0: none this epoch); repeated by the gateway's own changes. */
  seq: number;
  /** When it took effect, Unix nanoseconds. */
  ts: number;
  delayed?: boolean;
}

/** The client asked for a fresh snapshot of a book whose copy went wrong ("resync" event). */
export interface Resync {
  stream: "book";
  symbols: string[];
  /** checksum: the copy after the message was not the gateway's; seq: an update that did not follow the copy. */
  reason: "checksum" | "seq";
  /** The message's seq. */
  seq: number;
  /** The message's checksum. */
  checksum: number;
  /** checksum: the copy's checksum after applying it. */
  computed?: number;
}

/** One OHLCV bar as the gateway sends it (docs/protocol.md). */
export interface Bar {
  type: "bar";
  stream: Stream;
  sym: string;
  /** Bucket start, Unix nanoseconds (a whole second, so exact as a double). */
  t: number;
  o: number;
  h: number;
  l: number;
  c: number;
  /** Summed trade size. */
  v: number;
  /** Trade count. */
  n: number;
  /**
   * The bucket number: t divided by the interval (bars.1s: t / 1e9, bars.1m: t / 60e9), so every
   * gateway of a fleet gives a bar the same seq. Gateways before bucket seqs count final bars from 1.
   * A partial carries the seq it will have when final.
   */
  seq: number;
  /**
   * Seq of the final bar before this one: a bucket without trades has no bar, so the seqs of
   * two bars in a row may jump; a bar whose prev is not the last one seen is a gap. Absent on the
   * first bar of a run and from gateways before bucket seqs (there seq - span == last is contiguous).
   */
  prev?: number;
  /** A progress update of the forming bar (only with `partial: true`); it does not move seq. */
  partial?: boolean;
  /** Delayed tier. */
  delayed?: boolean;
  /** Present when a final bar stands for span > 1 final bars (conflation): not a gap, whatever its prev. */
  span?: number;
  /** Made of synthetic ticks: the simulator's history before its start. */
  synthetic?: boolean;
}

/** Options of Client.subscribe. */
export interface SubscribeOptions {
  /** "ticks" (default), "bars.1s", "bars.1m", "book" or "status". */
  stream?: Stream;
  /** Updates/s per symbol; 0 or absent: every message. */
  maxRate?: number;
  /**
   * The last N final messages of each newly held symbol, oldest first, instead of the snapshot.
   * Joining a topic this client already holds, the client hands over what it kept (README).
   */
  history?: number;
  /** Bar streams only: also deliver progress updates of the forming bar (at most 1/s per symbol). */
  partial?: boolean;
}

/** A reply from the gateway to subscribe, unsubscribe or list. */
export interface Reply {
  type: "subscribed" | "unsubscribed" | "list";
  id?: number;
  /** The stream of a subscribed or unsubscribed reply (gateways before streams omit it). */
  stream?: Stream;
  symbols: string[];
  /** list only: each stream's symbols. */
  streams?: Record<string, string[]>;
  /** The effective rate class, when the subscription is rate-limited. */
  max_rate?: number;
  /** Symbols of `since` whose missed ticks follow. */
  recovered?: string[];
  /** Symbols of `since` the gateway could not recover: a gap. */
  snapshot?: string[];
  /** subscribed only: the epoch of each added symbol's seqs (a symbol with no tick yet is omitted). */
  epochs?: Record<string, string>;
}

export interface Options {
  /** WebSocket constructor; default globalThis.WebSocket (browsers, Node 22+). Pass `ws`'s on Node 20. */
  WebSocket?: new (url: string) => WebSocket;
  /** Presented on every connect, where tokenIn says. */
  token?: string;
  /**
   * Where the token goes: "query" (default), the `token` query parameter of the WebSocket URL;
   * "message", an `auth` message sent first on every connect, which no proxy or access log records
   * (its reply is the "authenticated" event; a refusal closes with 4003 and the reason).
   */
  tokenIn?: "query" | "message";
  /**
   * Asked for a new token after a close with 4003, and before the `exp`
   * of a JWT token (an open connection gets the new one as an `auth`
   * message; the next connect carries it too).
   */
  onToken?: () => string | Promise<string>;
  /** Reconnect delays in ms: full jitter under min(cap, base·2^attempt). Defaults 500 and 5000. */
  backoff?: { base?: number; cap?: number };
}

/**
 * Extra detail of a "state" event. For "reconnecting": why and how long until the next attempt;
 * for "closed" after a 4003 without onToken: that close's code and reason ("token expired", ...).
 */
export interface StateInfo {
  code?: number;
  reason?: string;
  /** ms until the next attempt. */
  delay?: number;
  /** The upper bound delay was drawn under. */
  ceiling?: number;
  /** 0 for the first attempt after a healthy connection. */
  attempt?: number;
}

/** Symbols of one stream whose ticks, bars or book messages are not contiguous with what was delivered before. */
export interface Gap {
  stream: Stream;
  symbols: string[];
  /**
   * history: the resubscribe was answered with a snapshot: the gateway's history no longer reached
   *   back to `since`, or had a hole after it;
   * epoch: the same, because the feed restarted while disconnected (the reply's epoch is not the one `since` named);
   * reset: the gateway's `reset` notice: the feed restarted its seqs under a new `epoch`; seqs start again;
   *   (from a gateway before epochs: the first tick after a resubscribe went below the last seq);
   * upstream: the gateway's `gap` notice: seqs `from`..`to` never reached it (the publisher dropped them);
   * seq: a tick's seq jumped past the last one by more than its n; a final bar's prev is past the last bar seen;
   *   a book update does not follow the copy (seq - n is not the last seq; a "resync" follows).
   * On "book" every gap leaves the copy waiting (Book.synced false) for the snapshot the gateway sends.
   */
  reason: "history" | "epoch" | "reset" | "upstream" | "seq";
  /** reset: the new run's epoch. */
  epoch?: string;
  /** upstream: the first and last missing seq. */
  from?: number;
  to?: number;
  /** seq, reset: the last seq delivered before. */
  last?: number;
  /** seq: the seq that jumped (and the final bar's prev). */
  seq?: number;
  prev?: number;
}

/**
 * A notice from the gateway: "conflated", "live", "feed_down", "feed_up", "revoked". The per-symbol
 * notices "reset" and "gap" are not emitted as notices: they come as the "gap" event; an "epoch" notice only records the epoch.
 */
export interface Notice {
  type: "notice";
  code: string;
  msg?: string;
}

/** The gateway's reply to a token sent as a message (tokenIn "message", or a renewal). */
export interface Authenticated {
  type: "authenticated";
  id?: number;
  /** "realtime" or "delayed". */
  tier: string;
  /** When the token expires, Unix seconds; 0 for never (and from a gateway without auth). */
  expires: number;
}

/** An error reply from the gateway, or the client giving up on a request ("closed", "unauthorized", ...). */
export class TickgateError extends Error {
  constructor(code: string, message?: string, id?: number);
  readonly code: string;
  /** Id of the request this error answers, when it answers one. */
  readonly id?: number;
}

/** Made by Client.subscribe only. */
export class Subscription {
  private constructor();
  /** Resolves with the gateway's reply once the symbols are held; rejects with a TickgateError. */
  ready: Promise<Reply>;
  readonly symbols: string[];
  /** Updates/s per symbol asked for; 0 = every message. */
  readonly maxRate: number;
  readonly stream: Stream;
  /** Final messages asked for per newly held symbol; 0: the snapshot. */
  readonly history: number;
  /** Whether progress updates of the forming bar are delivered. */
  readonly partial: boolean;
  /** Adds symbols, all or nothing (like the gateway). */
  add(symbols: string[]): Promise<Reply>;
  /** Removes symbols; the gateway is told once no subscription of this client holds them. */
  remove(symbols: string[]): Promise<Reply>;
  /** Changes the rate of every symbol of this subscription; no snapshot is resent. */
  setMaxRate(rate: number): Promise<Reply>;
  /** Removes every symbol and stops the callback. */
  close(): Promise<Reply | void>;
  /**
   * The gateway's reply to each subscribe request that carried symbols of this
   * subscription (a request may carry other subscriptions' symbols too), the
   * resubscribe after every reconnect included, with its `recovered` and `snapshot`.
   */
  on(name: "subscribed", fn: (reply: Reply) => void): () => void;
  /** A gap of this subscription's symbols (`symbols` lists only those), as the client's "gap" event. */
  on(name: "gap", fn: (gap: Gap) => void): () => void;
  /** A book of this subscription whose copy went wrong: the client asked for a fresh snapshot. */
  on(name: "resync", fn: (r: Resync) => void): () => void;
  /**
   * An error that rejected a call of this subscription (its symbols are not added,
   * its rate is the old one) or dropped symbols it held (a resubscribe after a
   * gateway restart that no longer carries them). Every error is a client "error" too.
   */
  on(name: "error", fn: (err: TickgateError) => void): () => void;
  off(name: string, fn: (...args: any[]) => void): void;
}

/** Made by connect() only. */
export class Client {
  private constructor();
  readonly state: State;
  subscribe(symbols: string[], onTick: (tick: Tick) => void): Subscription;
  subscribe(symbols: string[], opts: SubscribeOptions & { stream?: "ticks" }, onTick: (tick: Tick) => void): Subscription;
  subscribe(symbols: string[], opts: SubscribeOptions & { stream: "bars.1s" | "bars.1m" }, onBar: (bar: Bar) => void): Subscription;
  /** onBook gets each book message once applied to the copy and proved by its checksum, and the copy. */
  subscribe(symbols: string[], opts: SubscribeOptions & { stream: "book" }, onBook: (m: BookMessage, book: Book) => void): Subscription;
  subscribe(symbols: string[], opts: SubscribeOptions & { stream: "status" }, onStatus: (status: Status) => void): Subscription;
  subscribe(symbols: string[], opts: SubscribeOptions, onData: (m: Tick | Bar | BookMessage | Status, book?: Book) => void): Subscription;
  on(name: "state", fn: (state: State, info: StateInfo) => void): () => void;
  on(name: "gap", fn: (gap: Gap) => void): () => void;
  /** A book copy went wrong (a checksum that differs, an update that does not follow): the client asked for a fresh snapshot. */
  on(name: "resync", fn: (r: Resync) => void): () => void;
  /** Each status message of a symbol a "status" subscription holds. */
  on(name: "status", fn: (status: Status) => void): () => void;
  on(name: "notice", fn: (notice: Notice) => void): () => void;
  on(name: "authenticated", fn: (reply: Authenticated) => void): () => void;
  on(name: "error", fn: (err: TickgateError) => void): () => void;
  off(name: string, fn: (...args: any[]) => void): void;
  /**
   * Skips the wait before the next reconnect: while reconnecting, dials at once. Returns whether
   * it did (false while open, closed, or while a dial is under way).
   */
  retry(): boolean;
  /** The symbols this connection holds on stream (default "ticks"), as the gateway sees them. */
  list(stream?: Stream): Promise<string[]>;
  /**
   * The last seq delivered for sym on stream (default "ticks"; on a bar stream, of a final bar),
   * or the `to` of an upstream gap right after it; undefined after a reset until the new run's first.
   */
  lastSeq(sym: string, stream?: Stream): number | undefined;
  /** The epoch of sym's seqs on stream (default "ticks"), as the gateway told it; undefined before epochs. */
  epoch(sym: string, stream?: Stream): string | undefined;
  /** The client's copy of sym's book while a "book" subscription holds it; undefined before its first snapshot. */
  book(sym: string): Book | undefined;
  /** sym's last status while a "status" subscription holds it, or undefined. */
  status(sym: string): Status | undefined;
  /** Ends the connection for good; waiting requests reject with code "closed". */
  close(): void;
}

/** Opens a client; it connects at once and reconnects until close(). */
export function connect(url: string, options?: Options): Client;

/** The claims of a JWT, decoded but not verified, or undefined if token is not one. */
export function jwtClaims(token?: string): Record<string, unknown> | undefined;

/** The `exp` claim (Unix seconds) of a JWT, or undefined. */
export function jwtExp(token?: string): number | undefined;

/** The checksum of a book with these sides (best first): CRC-32 of the best 10 levels a side, as the gateway computes it. */
export function bookChecksum(bids: ReadonlyArray<Readonly<Level>>, asks: ReadonlyArray<Readonly<Level>>): number;

/** Judges a tick's seq (standing for n feed ticks; a final bar's, standing for span bar seqs) against the last seq seen; a conflated jump covered by n is "next". */
export function seqStep(last: number | undefined, seq: number, n?: number): "first" | "duplicate" | "behind" | "gap" | "next";

/** Judges a final bar by its prev (the gateway's previous final bar): a gap iff prev > last; without prev, seqStep with span. */
export function barStep(last: number | undefined, seq: number, prev?: number, span?: number): "first" | "duplicate" | "behind" | "gap" | "next";

/** Full-jitter delay for reconnect attempt `attempt` (0-based), never below 20 ms. */
export function backoffDelay(attempt: number, base: number, cap: number, random?: () => number): number;
