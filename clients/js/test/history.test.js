// The history budget: read from the gateway's welcome, and the split of a
// big history ask into requests within it. The pure functions directly;
// welcome.test.js runs them against the real gateway.

import assert from "node:assert/strict";
import { test } from "node:test";
import { budgetOf, DEFAULT_BUDGET, historyBatches } from "../tickgate/history.js";

const WELCOME = '{"type":"welcome","history_budget":1024,"history":{"ticks":1024,"bars.1s":500,"bars.1m":500}}';

test("budgetOf reads history_budget from the welcome, and falls back to 1024 without one", () => {
  assert.equal(budgetOf(JSON.parse(WELCOME)), 1024);
  assert.equal(budgetOf({ type: "welcome", history_budget: 256 }), 256);
  assert.equal(budgetOf({ type: "welcome", history_budget: 0 }), 0, "a gateway that takes no history says 0");
  assert.equal(DEFAULT_BUDGET, 1024);
  assert.equal(budgetOf(undefined), 1024, "no welcome (a gateway before it)");
  assert.equal(budgetOf({ type: "welcome" }), 1024);
  assert.equal(budgetOf({ type: "welcome", history_budget: "512" }), 1024);
  assert.equal(budgetOf({ type: "welcome", history_budget: -1 }), 1024);
});

test("historyBatches keeps each request within the budget", () => {
  const syms = Array.from({ length: 12 }, (_, i) => "S" + i);
  const sizes = (b) => b.map((x) => x.length);
  assert.deepEqual(sizes(historyBatches(syms, 120, 1024)), [8, 4], "12 x 120 past 1024: 8 symbols a request");
  assert.deepEqual(sizes(historyBatches(syms, 120, 256)), [2, 2, 2, 2, 2, 2], "a smaller budget, smaller requests");
  assert.deepEqual(sizes(historyBatches(syms, 0, 256)), [12], "no history: one request");
  assert.deepEqual(sizes(historyBatches(syms, 2000, 1024)), Array(12).fill(1), "past the budget alone: one each, for the gateway to refuse");
  assert.deepEqual(historyBatches(syms, 120, 1024).flat(), syms, "every symbol once, in order");
  assert.deepEqual(historyBatches([], 120, 1024), []);
});
