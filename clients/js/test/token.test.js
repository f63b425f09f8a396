// Tokens. Most of these tests check what the client does on the wire: the
// token rides as ?token= on every connect, a JWT is renewed before its exp,
// and a 4003 close asks onToken before reconnecting; there the 4003 comes
// from the test proxy, which can refuse on cue. The last test runs against
// a gateway with auth.mode jwt and real HS256 tokens.

import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { backoffDelay, connect, jwtClaims, jwtExp } from "../tickgate.js";
import { hs256, startProxy, waitFor, withGateway } from "./gateway.js";

function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}.c2lnbmF0dXJl`;
}

const tokenOf = (line) => new URL(line.split(" ")[1], "http://x").searchParams.get("token");

test("jwtClaims decodes a JWT's payload, UTF-8 included, and nothing from anything else", () => {
  assert.deepEqual(jwtClaims(jwt({ sub: "zoë", exp: 1900000000 })), { sub: "zoë", exp: 1900000000 });
  assert.equal(jwtClaims("opaque-token"), undefined);
  assert.equal(jwtClaims("a.!!!.c"), undefined);
  assert.equal(jwtClaims(`x.${Buffer.from("[1]").toString("base64url")}.y`), undefined, "an array is not claims");
  assert.equal(jwtClaims(undefined), undefined);
});

test("jwtExp reads exp from a JWT and nothing from anything else", () => {
  assert.equal(jwtExp(jwt({ sub: "a", exp: 1900000000 })), 1900000000);
  assert.equal(jwtExp("opaque-token"), undefined);
  assert.equal(jwtExp(jwt({ sub: "a" })), undefined);
  assert.equal(jwtExp("a.!!!.c"), undefined);
  assert.equal(jwtExp(undefined), undefined);
});

test("backoffDelay: full jitter under a doubling ceiling, capped, never below 20 ms", () => {
  assert.equal(backoffDelay(0, 500, 30000, () => 0), 20);
  assert.equal(backoffDelay(0, 500, 30000, () => 0.5), 250);
  assert.equal(backoffDelay(3, 500, 30000, () => 0.999999), 500 * 8 * 0.999999);
  assert.equal(backoffDelay(10, 500, 30000, () => 0.5), 15000);
  assert.equal(backoffDelay(5000, 500, 30000, () => 0.5), 15000);
});

test("tokenIn must be query or message", () => {
  assert.throws(() => connect("ws://127.0.0.1:1/ws", { WebSocket, tokenIn: "header" }), RangeError);
});

test("the token goes as ?token= and a JWT is renewed before its exp, for the next connect", async (t) => {
  const gw = await withGateway(t);
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const first = jwt({ sub: "u1", exp: Math.floor(Date.now() / 1000) + 4 });
  const second = jwt({ sub: "u1", exp: Math.floor(Date.now() / 1000) + 3600 });
  let asked = 0;
  const tg = connect(proxy.ws, {
    WebSocket, token: first, backoff: { base: 50, cap: 200 },
    onToken: async () => { asked++; return second; },
  });
  t.after(() => tg.close());
  await waitFor(() => tg.state === "open", 10000, "never opened");
  assert.equal(tokenOf(proxy.requests[0]), first);
  // Renewal comes before exp (4 s) without cutting the connection.
  await waitFor(() => asked === 1, 6000, "onToken not asked before exp");
  assert.ok(Date.now() / 1000 < jwtExp(first), "asked before exp");
  assert.equal(proxy.requests.length, 1, "renewal did not reconnect");
  proxy.drop();
  await waitFor(() => proxy.requests.length >= 2 && tg.state === "open", 10000, "no reconnect");
  assert.equal(tokenOf(proxy.requests[1]), second, "the next connect carries the new token");
});

test("close 4003 asks onToken, then reconnects with the new token", async (t) => {
  const gw = await withGateway(t);
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  proxy.reject4003((line) => tokenOf(line) === "stale");
  let asked = 0;
  const tg = connect(proxy.ws, {
    WebSocket, token: "stale", backoff: { base: 50, cap: 200 },
    onToken: () => { asked++; return "fresh"; },
  });
  t.after(() => tg.close());
  const codes = [];
  tg.on("state", (s, info) => { if (s === "reconnecting") codes.push(info.code); });
  const ticks = [];
  tg.subscribe(["AAPL"], (x) => ticks.push(x));
  await waitFor(() => ticks.length > 0, 10000, "no ticks after renewal");
  assert.equal(codes[0], 4003);
  assert.equal(asked, 1);
  assert.deepEqual(proxy.requests.map(tokenOf), ["stale", "fresh"]);
});

test("close 4003 without onToken: the client stops rather than retrying a token that failed", async (t) => {
  const gw = await withGateway(t);
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  proxy.reject4003(() => true);
  const tg = connect(proxy.ws, { WebSocket, token: "x", backoff: { base: 50, cap: 200 } });
  const errors = [], states = [];
  tg.on("error", (e) => errors.push(e));
  tg.on("state", (s, info) => states.push({ s, ...info }));
  await waitFor(() => tg.state === "closed", 10000, "client did not stop");
  assert.deepEqual(errors.map((e) => e.code), ["unauthorized"]);
  assert.match(errors[0].message, /4003 \(token rejected\)/);
  // Straight to closed, with the close that refused it: no retry announced that will not come.
  assert.deepEqual(states.map((x) => x.s), ["connecting", "open", "closed"]);
  assert.equal(states[2].code, 4003);
  assert.equal(states[2].reason, "token rejected");
  assert.equal(proxy.requests.length, 1);
});

test("against a gateway with auth: a JWT renewed before exp extends the open connection", async (t) => {
  const secret = "0123456789abcdef0123456789abcdef";
  const gw = await withGateway(t, { TICKGATE_AUTH_MODE: "jwt", TICKGATE_AUTH_HMAC_SECRET: secret });
  const now = () => Math.floor(Date.now() / 1000);
  const token = (ttl) => hs256(secret, { sub: "dash", syms: ["*"], tier: "realtime", exp: now() + ttl });
  let asked = 0;
  const first = token(3);
  const tg = connect(gw.ws, {
    WebSocket, token: first, backoff: { base: 50, cap: 200 },
    onToken: () => { asked++; return token(60); },
  });
  t.after(() => tg.close());
  const states = [];
  tg.on("state", (s) => states.push(s));
  const ticks = [];
  tg.subscribe(["AAPL"], (x) => ticks.push(x));
  await waitFor(() => ticks.length > 0, 10000, "no ticks with a valid token");
  const firstExp = jwtExp(first);
  await new Promise((r) => setTimeout(r, 4500)); // past the first token's exp
  const before = ticks.length;
  await waitFor(() => ticks.length > before, 5000, "ticks stopped after the first token's exp");
  assert.ok(now() >= firstExp, "waited past the first exp");
  assert.equal(asked, 1, "onToken asked once, before exp");
  assert.ok(!states.includes("reconnecting"), `the connection was never cut: ${states}`);
});

test("against a gateway with auth: tokenIn message keeps the token out of the URL; a refusal closes with its reason", async (t) => {
  const secret = "0123456789abcdef0123456789abcdef";
  const gw = await withGateway(t, { TICKGATE_AUTH_MODE: "jwt", TICKGATE_AUTH_HMAC_SECRET: secret });
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const now = () => Math.floor(Date.now() / 1000);
  const exp = now() + 600;
  const tg = connect(proxy.ws, { WebSocket, token: hs256(secret, { sub: "dash", syms: ["*"], tier: "realtime", exp }), tokenIn: "message" });
  t.after(() => tg.close());
  const auths = [];
  tg.on("authenticated", (m) => auths.push(m));
  const ticks = [];
  tg.subscribe(["AAPL"], (x) => ticks.push(x));
  await waitFor(() => ticks.length > 0, 10000, "no ticks with a token sent as a message");
  assert.deepEqual(auths.map((m) => [m.tier, m.expires]), [["realtime", exp]]);
  assert.equal(tokenOf(proxy.requests[0]), null, "no token in the URL");
  assert.equal(proxy.sent[0].op, "auth", "the token is the first message");

  // Refused tokens: the client stops at once, with the gateway's reason.
  const refused = async (token) => {
    const c = connect(proxy.ws, { WebSocket, token, tokenIn: "message", backoff: { base: 50, cap: 200 } });
    t.after(() => c.close());
    const states = [];
    c.on("state", (s, info) => states.push({ s, ...info }));
    c.on("error", () => {});
    await waitFor(() => c.state === "closed", 10000, "not closed");
    assert.ok(!states.some((x) => x.s === "reconnecting"), JSON.stringify(states));
    return states.at(-1);
  };
  const late = await refused(hs256(secret, { sub: "dash", syms: ["*"], exp: now() - 60 }));
  assert.deepEqual([late.code, late.reason], [4003, "token expired"]);
  const forged = await refused(hs256("another-secret-another-secret-xx", { sub: "dash", syms: ["*"], exp }));
  assert.deepEqual([forged.code, forged.reason], [4003, "token bad_signature"]);
});
