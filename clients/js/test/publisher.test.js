// A publisher restart as the client sees it, with every piece real: a
// nats-server (built from the version go.mod pins), `gateway publish`
// running the simulator into it, and a gateway reading NATS. The restarted
// publisher numbers in a new epoch, so the gateway tells its book and
// status subscribers `reset` on a live connection: the client's copy waits
// (a gap of reason reset) for the new run's snapshot, then is exact again.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { bookChecksum, connect } from "../tickgate.js";
import { gatewayBinary, startGateway, waitFor } from "./gateway.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** natsBinary builds nats-server at go.mod's version, or says why it cannot (for skip). */
function natsBinary() {
  const dir = mkdtempSync(join(tmpdir(), "tickgate-nats-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  try {
    execFileSync("go", ["build", "-o", join(dir, "nats-server"), "github.com/nats-io/nats-server/v2"], { cwd: repo, stdio: "pipe" });
    return { path: join(dir, "nats-server") };
  } catch (err) {
    return { skip: "cannot build nats-server from the module cache: " + String(err.stderr || err).split("\n")[0] };
  }
}

/** run starts a process that test t stops, and keeps what it writes; ready waits for a line matching re. */
function run(t, file, args, env = {}) {
  const proc = spawn(file, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (b) => { log += b; });
  proc.stderr.on("data", (b) => { log += b; });
  const exited = new Promise((r) => proc.on("exit", r));
  t.after(() => proc.kill("SIGKILL"));
  return {
    log: () => log,
    ready: (re) => waitFor(() => re.exec(log), 15000, () => `${file} never said ${re}:\n${log}`),
    async stop() { proc.kill("SIGTERM"); await exited; },
  };
}

const nats = natsBinary();

test("a publisher restart: reset on the book stream, the copy waits, then the new run's snapshot, exact again", { skip: nats.skip, timeout: 90000 }, async (t) => {
  const server = run(t, nats.path, ["-a", "127.0.0.1", "-p", "-1"]);
  const url = "nats://" + (await server.ready(/Listening for client connections on (\S+)/))[1];
  const feed = { TICKGATE_FEED_NATS_URLS: url, TICKGATE_PUBLISH_METRICS_LISTEN: "", TICKGATE_FEED_SIM_RATE: "2000" };
  const publish = () => run(t, gatewayBinary(), ["publish"], feed);
  let pub = publish();
  const gw = await startGateway({ ...feed, TICKGATE_FEED_SOURCE: "nats" });
  t.after(() => gw.stop("SIGKILL"));

  const tg = connect(gw.ws, { WebSocket });
  t.after(() => tg.close());
  const gaps = [], resyncs = [], faults = [], books = [], statuses = [];
  tg.on("gap", (g) => gaps.push(g));
  tg.on("resync", (r) => resyncs.push(r));
  tg.subscribe(["AAPL"], { stream: "status" }, (s) => statuses.push(s));
  await tg.subscribe(["AAPL"], { stream: "book" }, (m, book) => {
    if (bookChecksum(book.bids, book.asks) !== m.checksum) faults.push(`seq ${m.seq}: checksum`);
    const last = books.at(-1);
    if (m.type === "book_update" && m.seq - (m.n || 1) !== last.seq) faults.push(`update ${m.seq} after ${last.seq}`);
    books.push({ type: m.type, seq: m.seq, epoch: tg.epoch("AAPL", "book") });
  }).ready;
  await waitFor(() => books.length >= 50, 20000, "no book messages from the publisher");
  const before = tg.epoch("AAPL", "book");
  const told = statuses.length;

  await pub.stop();
  pub = publish();
  await waitFor(() => gaps.some((g) => g.stream === "book"), 20000, () => "no reset on the book stream; gaps: " + JSON.stringify(gaps));
  const reset = gaps.find((g) => g.stream === "book");
  assert.equal(reset.reason, "reset");
  assert.notEqual(reset.epoch, before, "the new run's epoch");
  assert.ok(reset.last > 0, "the old run's last seq");
  await waitFor(() => books.some((b) => b.epoch === reset.epoch), 20000, "nothing of the new run");
  const start = books.findIndex((b) => b.epoch === reset.epoch);
  await waitFor(() => books.length >= start + 30, 20000, "the new run's book does not go on");
  assert.equal(books[start].type, "book", "the new run starts with its snapshot");
  assert.ok(books[start].seq < reset.last, "its seqs start again");
  assert.deepEqual(faults, []);
  assert.deepEqual(resyncs, [], "a reset is no resync: the gateway sends the snapshot");
  assert.ok(tg.book("AAPL").synced);
  await waitFor(() => statuses.slice(told).some((s) => s.status === "open"), 10000, "no status of the new run");
});
