// An order book as the client keeps it: each side's levels sorted best
// first, applied from the gateway's snapshots and updates (merged ones
// too: per level the latest size), and the checksum that proves the copy
// is the gateway's after every message (docs/protocol.md, "The book
// stream": CRC-32 of the best 10 levels a side, as feed.Checksum).

/** CHECKSUM_DEPTH is how many levels a side the checksum covers. */
const CHECKSUM_DEPTH = 10;

/** table is CRC-32's (IEEE, reflected, polynomial 0xEDB88320) byte table, made at the first checksum. */
let table = null;

function crcTable() {
  table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
}

/**
 * crc32 is the CRC-32 of s (zlib's crc32, Go's crc32.ChecksumIEEE), as an
 * unsigned integer. s is ASCII: the checksum string never holds more.
 * @param {string} s
 * @returns {number}
 */
function crc32(s) {
  const t = table || crcTable();
  let c = -1;
  for (let i = 0; i < s.length; i++) c = t[(c ^ s.charCodeAt(i)) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * priceText writes px as its shortest round-trip decimal without an
 * exponent (Go's strconv 'f', -1): String(px), whose exponent form below
 * 1e-6 and from 1e21 up is written out.
 * @param {number} px
 */
export function priceText(px) {
  const s = String(px);
  const e = s.indexOf("e");
  if (e < 0) return s;
  const mant = s.slice(0, e), exp = Number(s.slice(e + 1));
  const dot = mant.indexOf(".");
  const digits = mant.replace(".", "");
  const point = (dot < 0 ? mant.length : dot) + exp; // where the decimal point goes in digits
  if (point <= 0) return "0." + "0".repeat(-point) + digits;
  if (point >= digits.length) return digits + "0".repeat(point - digits.length);
  return digits.slice(0, point) + "." + digits.slice(point);
}

/** sideText writes a side's best CHECKSUM_DEPTH levels as price:size, joined by ",". */
function sideText(levels) {
  let s = "";
  const n = Math.min(levels.length, CHECKSUM_DEPTH);
  for (let i = 0; i < n; i++) s += (i ? "," : "") + priceText(levels[i][0]) + ":" + levels[i][1];
  return s;
}

/**
 * bookChecksum is the checksum of a book with these sides (each best
 * first): CRC-32 of "<best 10 bids>|<best 10 asks>", each level
 * price:size, as the gateway computes it.
 * @param {ReadonlyArray<readonly [number, number]>} bids
 * @param {ReadonlyArray<readonly [number, number]>} asks
 * @returns {number}
 */
export function bookChecksum(bids, asks) {
  return crc32(sideText(bids) + "|" + sideText(asks));
}

const higher = (a, b) => a > b;
const lower = (a, b) => a < b;

/**
 * setLevel sets the size of the level at px on side (sorted best first by
 * better): size 0 removes it, a new price is inserted in order.
 */
function setLevel(side, px, size, better) {
  let lo = 0, hi = side.length;
  while (lo < hi) { // the first level not better than px
    const mid = (lo + hi) >> 1;
    if (better(side[mid][0], px)) lo = mid + 1; else hi = mid;
  }
  const here = lo < side.length && side[lo][0] === px;
  if (size === 0) { if (here) side.splice(lo, 1); }
  else if (here) side[lo][1] = size;
  else side.splice(lo, 0, [px, size]);
}

/** levels copies a snapshot side's levels, leaving out any of size 0. */
const levels = (side) => side.filter(([, s]) => s !== 0).map(([p, s]) => [p, s]);

/**
 * Book is the client's copy of one symbol's order book. Its sides are
 * live arrays of [price, size], best first, that the next message changes
 * in place: copy what you keep. synced says whether the copy was proved
 * right by the last message's checksum and nothing since made it doubtful;
 * while it is false (before the first snapshot, after a gap, a reset or a
 * resync) the levels are the last known ones, and a snapshot is on its way.
 */
export class Book {
  /** @type {string} */ sym;
  /** the seq of the last message applied */ seq = 0;
  /** the feed time of the last message applied, Unix nanoseconds */ ts = 0;
  /** @type {Array<[number, number]>} best (highest) first */ bids = [];
  /** @type {Array<[number, number]>} best (lowest) first */ asks = [];
  synced = false;

  /** @param {string} sym */
  constructor(sym) { this.sym = sym; }

  /** checksum is the checksum of the copy as it is now. */
  get checksum() { return bookChecksum(this.bids, this.asks); }

  /** replace takes a snapshot: its levels (a size 0 is no level), whatever the copy held. */
  replace(m) {
    this.bids = levels(m.bids).sort((a, b) => b[0] - a[0]);
    this.asks = levels(m.asks).sort((a, b) => a[0] - b[0]);
    this.#moved(m);
  }

  /** update applies an update's levels: size 0 removes a level, any other sets it. */
  update(m) {
    for (const [p, s] of m.bids) setLevel(this.bids, p, s, higher);
    for (const [p, s] of m.asks) setLevel(this.asks, p, s, lower);
    this.#moved(m);
  }

  #moved(m) {
    this.seq = m.seq;
    this.ts = m.ts;
  }

  /** snapshot is the copy as a snapshot message, for a subscription that joins a book the client holds. */
  snapshot() {
    return {
      type: "book", sym: this.sym, seq: this.seq, checksum: this.checksum,
      bids: this.bids.map(([p, s]) => [p, s]), asks: this.asks.map(([p, s]) => [p, s]), ts: this.ts,
    };
  }
}
