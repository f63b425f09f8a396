// The seq rule of CONTRACT.md / docs/protocol.md, case by case.

import assert from "node:assert/strict";
import { test } from "node:test";
import { barStep, seqStep } from "../tickgate.js";

test("seqStep: a conflated jump covered by n is contiguous; a jump past n is a gap", () => {
  assert.equal(seqStep(undefined, 7), "first");
  assert.equal(seqStep(41, 42), "next");
  assert.equal(seqStep(41, 42, undefined), "next");
  assert.equal(seqStep(41, 41), "duplicate");
  assert.equal(seqStep(41, 30), "behind");
  assert.equal(seqStep(41, 43), "gap", "one tick lost");
  assert.equal(seqStep(1041, 1050, 9), "next", "n=9 covers 1042..1050");
  assert.equal(seqStep(1041, 1050, 8), "gap", "n=8 covers 1043..1050: 1042 lost");
  assert.equal(seqStep(1041, 1050, 20), "next", "n reaching past last (overlap) is not a gap");
});

test("seqStep on final bars: span plays the part of n", () => {
  assert.equal(seqStep(11, 12), "next", "a bar with no span follows the last");
  assert.equal(seqStep(11, 14, 3), "next", "span 3 stands for 12..14, two conflated away");
  assert.equal(seqStep(11, 14, 2), "gap", "span 2 covers 13..14: bar 12 lost");
  assert.equal(seqStep(12, 12), "duplicate", "a recovered bar already seen");
});

test("barStep: bucket seqs with prev; a quiet bucket is no gap, a bar that did not come is", () => {
  const b = 1732469820; // bucket numbers: t / 1e9 on bars.1s
  assert.equal(barStep(undefined, b, b - 1), "first");
  assert.equal(barStep(b, b + 1, b), "next", "the next bucket, prev the last");
  assert.equal(barStep(b, b + 5, b), "next", "buckets b+1..b+4 had no trades: no bar, no gap");
  assert.equal(barStep(b, b + 5, b + 3), "gap", "bar b+3 was made and not delivered");
  assert.equal(barStep(b, b + 5, b - 2), "next", "prev below last: nothing lies between last and seq");
  assert.equal(barStep(b, b + 5, b + 3, 2), "next", "span 2: the bar before was conflated away");
  assert.equal(barStep(b, b, b - 1), "duplicate");
  assert.equal(barStep(b, b - 3, b - 4), "behind");
  assert.equal(barStep(11, 13, undefined), "gap", "without prev: the counted rule, seq - span");
  assert.equal(barStep(11, 14, undefined, 3), "next");
});
