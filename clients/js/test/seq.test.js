// The seq rule of CONTRACT.md / docs/protocol.md, case by case.

import assert from "node:assert/strict";
import { test } from "node:test";
import { seqStep } from "../tickgate.js";

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
