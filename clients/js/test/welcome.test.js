// The welcome against the real gateway binary: the client takes the
// history budget it tells and splits a history ask by it. The gateway here
// has a budget of 256 (fanout.conflate_at / 256); a test proxy tells it
// ahead of the gateway's own welcome (gateways before the welcome send
// none), with the gateway's exact shape.

import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { connect } from "../tickgate.js";
import { firstBarBreak, startProxy, waitFor, withGateway } from "./gateway.js";

const welcome = (budget) => JSON.stringify({ type: "welcome", history_budget: budget, history: { ticks: 1024, "bars.1s": 500, "bars.1m": 500 } });

test("welcome: a history ask is split by the budget the gateway tells, not by 1024", async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "3000", TICKGATE_FANOUT_CONFLATE_AT: "65536" });
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  proxy.greet(welcome(256));
  const syms = (await (await fetch(gw.http + "/symbols")).json()).slice(0, 6);
  const tg = connect(proxy.ws, { WebSocket, backoff: { base: 50, cap: 500 } });
  t.after(() => tg.close());
  const errors = [], notices = [];
  tg.on("error", (e) => errors.push(e));
  tg.on("notice", (n) => notices.push(n));
  const bars = new Map(syms.map((s) => [s, []]));
  // 6 symbols x 100 is 600: one request under 1024, past this gateway's 256.
  const sub = tg.subscribe(syms, { stream: "bars.1s", history: 100 }, (x) => bars.get(x.sym).push(x));
  const reply = await sub.ready;
  assert.equal(reply.type, "subscribed");
  assert.deepEqual((await tg.list("bars.1s")).sort(), [...syms].sort());
  await waitFor(() => syms.every((s) => bars.get(s).length >= 2), 20000, "not every symbol got bars");
  for (const s of syms) assert.equal(firstBarBreak(bars.get(s)), null, `${s}: contiguous`);
  assert.deepEqual(errors, [], "no invalid_request: every request was within 256");
  assert.deepEqual(notices, [], "the welcome is no notice");
});
