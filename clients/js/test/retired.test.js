// Retired symbols: the gateway's simulator delists symbols as it runs
// (feed.sim.relist_every); the client drops them, tells it as the
// "retired" event on the client and the subscription, and does not ask for
// them again after a reconnect. Against the real gateway binary.

import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { connect } from "../tickgate.js";
import { startProxy, waitFor, withGateway } from "./gateway.js";

test("retired: a delisted symbol leaves the subscription, and the reconnect does not ask for it", async (t) => {
  // The quieter half of four, CCC and DDD, is what churn delists.
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_SYMBOLS: "AAA,BBB,CCC,DDD", TICKGATE_FEED_SIM_RELIST_EVERY: "300ms" });
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const tg = connect(proxy.ws, { WebSocket, backoff: { base: 50, cap: 500 } });
  t.after(() => tg.close());
  const onClient = [], onSub = [], errors = [];
  tg.on("retired", (r) => onClient.push(r));
  tg.on("error", (e) => errors.push(e));
  const sub = tg.subscribe(["AAA", "CCC", "DDD"], () => {});
  const replies = [];
  sub.on("subscribed", (r) => replies.push(r));
  sub.on("retired", (r) => onSub.push(r));
  await sub.ready;
  await waitFor(() => onSub.length > 0, 10000, "no retired event within 10s of churn every 300ms");
  const gone = onSub[0].symbols[0];
  assert.ok(["CCC", "DDD"].includes(gone), `retired ${gone}, want one of the quieter half`);
  assert.deepEqual(onSub[0], { stream: "ticks", symbols: [gone], reason: "delisted" });
  assert.deepEqual(onClient[0], onSub[0], "the client hears it as the subscription does");
  assert.ok(!sub.symbols.includes(gone), "the subscription no longer holds it");
  assert.equal(tg.lastSeq(gone), undefined, "its seqs are forgotten");
  assert.ok(!(await tg.list()).includes(gone), "the gateway holds it no more");

  const before = replies.length;
  proxy.drop();
  await waitFor(() => replies.length > before, 10000, "no resubscribe after the reconnect");
  const reply = replies.at(-1);
  for (const r of onSub) for (const s of r.symbols) assert.ok(!reply.symbols.includes(s), `resubscribed ${s}, which was retired`);
  assert.ok(reply.symbols.includes("AAA"));
  assert.deepEqual(errors.filter((e) => e.code === "unknown_symbol"), [], "no request named a retired symbol");
});
