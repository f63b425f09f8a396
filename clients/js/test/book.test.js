// The book copy and its checksum, without a gateway: the checksum vectors
// computed outside Go (feed/testdata/book_checksums.json, which the Go
// tests read too), prices written as the gateway writes them, and the
// worked example of docs/protocol.md ("The book stream") applied message
// by message and as the merged update a max_rate subscriber gets.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { bookChecksum } from "../tickgate.js";
import { Book, priceText } from "../tickgate/book.js";

const vectors = JSON.parse(readFileSync(new URL("../../../feed/testdata/book_checksums.json", import.meta.url)));

test("bookChecksum gives every vector's checksum", () => {
  assert.ok(vectors.length >= 5, "the vectors file has its cases");
  for (const v of vectors) assert.equal(bookChecksum(v.bids, v.asks), v.checksum, v.string);
});

test("a price is written as Go's strconv 'f', -1: no exponent, whatever its size", () => {
  assert.equal(priceText(189.3), "189.3");
  assert.equal(priceText(100.0), "100");
  assert.equal(priceText(0.0001), "0.0001");
  assert.equal(priceText(1e-7), "0.0000001");
  assert.equal(priceText(1.5e-10), "0.00000000015");
  assert.equal(priceText(1.234e-7), "0.0000001234");
  assert.equal(priceText(1e21), "1000000000000000000000");
  assert.equal(priceText(2.5e22), "25000000000000000000000");
});

/** example is docs/protocol.md's book example, message by message. */
const example = [
  { type: "book", sym: "AAPL", seq: 12, checksum: 57838067, bids: [[189.3, 200], [189.29, 500]], asks: [[189.32, 100]], ts: 1 },
  { type: "book_update", sym: "AAPL", seq: 13, checksum: 3028941027, bids: [[189.3, 0]], asks: [[189.33, 300]], ts: 2 },
  { type: "book_update", sym: "AAPL", seq: 14, checksum: 2676514918, bids: [[189.31, 100]], asks: [], ts: 3 },
  { type: "book_update", sym: "AAPL", seq: 15, checksum: 4107059555, bids: [], asks: [[189.34, 50]], ts: 4 },
  { type: "book_update", sym: "AAPL", seq: 16, checksum: 455806475, bids: [], asks: [[189.32, 400], [189.34, 0]], ts: 5 },
];

test("the protocol's example: each message leaves the copy its checksum names", () => {
  const b = new Book("AAPL");
  for (const m of example) {
    if (m.type === "book") b.replace(m); else b.update(m);
    assert.equal(b.checksum, m.checksum, `after seq ${m.seq}`);
    assert.equal(b.seq, m.seq);
  }
  assert.deepEqual(b.bids, [[189.31, 100], [189.29, 500]]);
  assert.deepEqual(b.asks, [[189.32, 400], [189.33, 300]]);
});

test("the protocol's merged update (14..16, n 3) leaves the same book as its three messages", () => {
  const b = new Book("AAPL");
  b.replace(example[0]);
  b.update(example[1]);
  b.update({ type: "book_update", sym: "AAPL", seq: 16, checksum: 455806475, bids: [[189.31, 100]], asks: [[189.32, 400]], ts: 5, n: 3 });
  assert.equal(b.checksum, 455806475);
  assert.deepEqual(b.snapshot().bids, [[189.31, 100], [189.29, 500]]);
});

test("levels go in price order, best first; size 0 removes only the level it names; a snapshot replaces all", () => {
  const b = new Book("X");
  b.replace({ seq: 1, ts: 0, bids: [[10, 1], [12, 1], [11, 1]], asks: [[14, 1], [13, 1]] });
  assert.deepEqual(b.bids.map(([p]) => p), [12, 11, 10], "bids highest first");
  assert.deepEqual(b.asks.map(([p]) => p), [13, 14], "asks lowest first");
  b.update({ seq: 2, ts: 0, bids: [[11.5, 3], [9, 2], [10, 0], [8.5, 0]], asks: [[13, 0], [15, 7], [12.5, 1]] });
  assert.deepEqual(b.bids, [[12, 1], [11.5, 3], [11, 1], [9, 2]]);
  assert.deepEqual(b.asks, [[12.5, 1], [14, 1], [15, 7]]);
  b.replace({ seq: 3, ts: 0, bids: [[1, 1]], asks: [] });
  assert.deepEqual([b.bids, b.asks], [[[1, 1]], []]);
  assert.equal(b.checksum, bookChecksum([[1, 1]], []));
});

test("the checksum covers the best 10 levels a side: a change at the 11th leaves it, at the 10th changes it", () => {
  const side = (p0, step) => Array.from({ length: 12 }, (_, i) => [p0 + i * step, 100 + i]);
  const b = new Book("X");
  b.replace({ seq: 1, ts: 0, bids: side(100, -1), asks: side(200, 1) });
  const sum = b.checksum;
  b.update({ seq: 2, ts: 0, bids: [[89, 5]], asks: [] }); // the 11th bid
  assert.equal(b.checksum, sum);
  b.update({ seq: 3, ts: 0, bids: [], asks: [[209, 5]] }); // the 10th ask
  assert.notEqual(b.checksum, sum);
});
