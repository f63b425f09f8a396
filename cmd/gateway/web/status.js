// status.js: what the header says about the link, from the client's
// events: the connection (connecting, live, reconnecting with a countdown
// to the next attempt and a "retry now", refused with the gateway's
// reason), the delivery mode, and the feed's clock, from which the page
// tells each price's age and whether a latency means anything.

import { fmtAge, fmtMs } from "./format.js";
import { refusal } from "./auth.js";

const $ = (id) => document.getElementById(id);

/** CLOSES name the close codes a reconnecting page may meet (docs/protocol.md). */
const CLOSES = { 1001: "gateway going away", 1006: "no answer", 1008: "policy", 1009: "too big", 4001: "too slow", 4029: "too many connections" };

/**
 * Link is the connection as the page shows it. Its state is the client's
 * ("connecting", "open", "reconnecting", "closed") or "refused": a 4003,
 * the token refused or expired, whether or not the page waits for another.
 */
export class Link {
  state = "connecting";
  feedDown = false;
  #due = 0; // ms: when the planned reconnect runs
  #detail = ""; // why, in full (the pill's title)
  #short = ""; // why, in a few words on the pill (a refusal's reason)

  /** @param {(live: boolean) => void} changed told when live (open, feed up) flips */
  constructor(changed) {
    this.changed = changed;
    setInterval(() => this.#countdown(), 100);
  }

  /** live says whether the prices on screen are being kept up to date. */
  get live() { return this.state === "open" && !this.feedDown; }

  /** why is what the link says about its state: a refusal's reason in words, a close code's meaning. */
  get why() { return this.#detail; }

  /** watch follows client tg: its states and notices; "retry now" asks it to dial at once. */
  watch(tg) {
    $("retry").onclick = () => tg.retry();
    tg.on("state", (s, info) => this.#state(s, info));
    tg.on("notice", (n) => {
      if (n.code === "feed_down" || n.code === "feed_up") this.feedDown = n.code === "feed_down";
      this.#mode(n.code);
      this.#render();
    });
  }

  /** refuse shows the link refused for reason (the 401 body's "error", or a 4003 close text). */
  refuse(reason) {
    this.state = "refused";
    this.#detail = refusal(reason);
    this.#short = "token " + String(reason || "refused").replace(/^token /, "").replace(/_/g, " ");
    this.#mode("off");
    this.#render();
  }

  #state(s, info = {}) {
    this.#detail = this.#short = "";
    if (info.code === 4003) return this.refuse(info.reason);
    this.state = s;
    this.#due = s === "reconnecting" ? Date.now() + info.delay : 0;
    if (s === "reconnecting") $("conn").dataset.attempt = String(info.attempt); // the last attempt that failed, for tests
    if (s === "reconnecting" && info.code) this.#detail = `closed ${info.code}` + (CLOSES[info.code] ? `: ${CLOSES[info.code]}` : "");
    if (s === "open") this.feedDown = false; // a gateway whose feed is down says so first thing
    this.#mode(s === "open" ? "live" : "off");
    this.#render();
  }

  #render() {
    const el = $("conn");
    el.dataset.state = this.state;
    el.title = this.#detail || "connection to the gateway";
    $("retry").hidden = this.state !== "reconnecting";
    this.#countdown();
    this.changed(this.live);
  }

  /** countdown writes the state, with the seconds left before the next attempt while reconnecting. */
  #countdown() {
    const text = {
      connecting: "connecting…",
      open: "live",
      reconnecting: this.#due > Date.now() ? `reconnecting in ${(Math.max(0, this.#due - Date.now()) / 1000).toFixed(1)} s` : "reconnecting…",
      refused: "refused",
      closed: "closed",
    }[this.state];
    if ($("connText").textContent !== text) $("connText").textContent = text;
    $("connWhy").textContent = this.#short;
  }

  /** mode sets the delivery pill: live, conflated, feed down, or nothing while there is no connection. */
  #mode(code) {
    const m = $("mode");
    const [text, cls] = {
      live: ["live", "live"], feed_up: ["live", "live"], conflated: ["conflated", "conflated"],
      feed_down: ["feed down", "down"], off: ["—", "off"],
    }[code] || [m.textContent, m.className.replace("pill ", "")];
    m.textContent = text;
    m.className = "pill " + cls;
  }
}

/** PLAUSIBLE is the most feed timestamps may be off this page's clock for a latency to mean something. */
const PLAUSIBLE_MS = 60000;

/**
 * FeedClock is the feed's time as the page knows it: the newest live
 * tick timestamp seen, run on by this page's clock (as the gateway's own
 * bar clock does); before any, this page's clock. A price's age is
 * measured on it, so it is right for a replay on recorded timestamps and
 * for a page whose clock is off the feed's. Synthetic ticks (the
 * simulator's made-up past) never move it: their age is how far in the
 * past they are made up. The latency, now − ts on this page's clock, is
 * shown only while the two clocks agree within a minute.
 */
export class FeedClock {
  #ts = 0; // newest tick ts seen, ms
  #at = 0; // when, on this page's clock
  #lat = []; // [at, now − ts] of the last second's live ticks

  /** observe takes tick t, received at now (ms). */
  observe(t, now) {
    if (t.synthetic) return;
    const ts = t.ts / 1e6;
    if (!this.#at || ts > this.now(now)) { this.#ts = ts; this.#at = now; }
    this.#lat.push(now, now - ts);
  }

  /** now is the feed's time at this page's time now (ms). */
  now(now) { return this.#at ? this.#ts + now - this.#at : now; }

  /** age is how old a tick stamped ts (ns) is at now, on the feed's clock. */
  age(ts, now) { return Math.max(0, this.now(now) - ts / 1e6); }

  /**
   * latency is the median now − ts of the last second's live ticks, and
   * whether it means something: {ms, off} with off set when the feed's
   * timestamps are more than a minute off this page's clock (a replay on
   * recorded timestamps, or clocks that disagree).
   */
  latency(now) {
    const lat = this.#lat;
    let i = 0;
    while (i < lat.length && lat[i] < now - 1000) i += 2;
    lat.splice(0, Math.max(i, lat.length - 8000)); // the last second, at most 4000 samples
    const v = [];
    for (let k = 1; k < lat.length; k += 2) v.push(lat[k]);
    if (!v.length) return null;
    v.sort((a, b) => a - b);
    const ms = v[v.length >> 1];
    return { ms, off: Math.abs(ms) > PLAUSIBLE_MS };
  }

  /** show writes the latency stat: the median, or why there is none (nothing live: not connected, feed down). */
  show(now, live) {
    const lat = live ? this.latency(now) : null, el = $("lat");
    el.textContent = !lat ? "—" : lat.off ? "n/a" : fmtMs(lat.ms);
    el.title = lat?.off
      ? `tick timestamps are ${fmtAge(Math.abs(lat.ms))} ${lat.ms > 0 ? "behind" : "ahead of"} this page's clock: a replay on recorded timestamps, or clocks that disagree; a latency would mean nothing`
      : "median of now − feed timestamp over the last second";
    el.dataset.off = String(!!lat?.off);
  }
}
