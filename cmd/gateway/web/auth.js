// auth.js: the page's token, for a gateway with auth.mode jwt. It comes
// from ?token= in the page's URL (taken out of the address bar at once, so
// it is not left in history, bookmarks or a Referer) or from the field the
// page shows when the gateway asks for one, and is kept in sessionStorage:
// this tab only, gone when the tab closes, never localStorage. The page
// sends it to the gateway as a header for /symbols and as the first
// WebSocket message (the client's tokenIn "message"), never in a URL that
// proxies log. The chip beside the search box shows the token's subject
// and expiry; the panel says, in words, why the gateway refused one.

import { jwtClaims } from "/tickgate.js";
import { fmtAge } from "./format.js";

const KEY = "tickgate.token";
const $ = (id) => document.getElementById(id);

/** REASONS are the gateway's refusal reasons (docs/auth.md) in words. */
const REASONS = {
  missing: "none was given",
  expired: "it has expired",
  not_yet_valid: "it is not valid yet",
  bad_signature: "it is not signed with this gateway's key",
  malformed: "it is not a token the gateway can read",
  wrong_algorithm: "it is signed with an algorithm this gateway does not accept",
  bad_claims: "its claims are not acceptable (sub, exp, syms, tier, iss or aud)",
};

/** refusal writes why a token was refused ("expired", or a close text "token expired") in words: "it has expired (expired)". */
export function refusal(reason) {
  const code = String(reason || "").replace(/^token /, "");
  return (REASONS[code] || "the gateway would not say why") + (code ? ` (${code})` : "");
}

/**
 * grants says whether token may have stream: its `streams` claim (a list,
 * or a comma-separated string) names it, or it has none (every stream). A
 * token that is no JWT is left to the gateway to judge.
 */
export function grants(token, stream) {
  const streams = jwtClaims(token)?.streams;
  if (streams === undefined) return true;
  return (Array.isArray(streams) ? streams : String(streams).split(",").map((s) => s.trim())).includes(stream);
}

/** Auth is the page's token: where it is kept, the chip that shows it and the panel that asks for one. */
export class Auth {
  token = null;
  subject = null; // the token's sub, if it is a JWT that has one
  expires = 0; // Unix seconds, from the gateway's authenticated reply or the token's exp; 0: unknown
  unchecked = false; // the gateway took the token without checking it (auth.mode none)
  #waiting = null; // {promise, resolve} while the panel waits for a token
  #check = null; // how the panel asks the gateway whether it takes a token
  #gatewayExpired = false; // the gateway closed with "token expired" on this token

  constructor() {
    const url = new URL(location.href);
    const given = url.searchParams.get("token");
    if (given !== null) {
      url.searchParams.delete("token");
      history.replaceState(history.state, "", url.pathname + url.search + url.hash);
      if (given) sessionStorage.setItem(KEY, given);
    }
    this.token = sessionStorage.getItem(KEY) || null;
    this.#learn();
    $("tokenForm").addEventListener("submit", (e) => { e.preventDefault(); this.#submit(); });
    $("tokenChange").onclick = () => this.#show("Paste another token to use it.");
    $("tokenForget").onclick = () => { sessionStorage.removeItem(KEY); location.reload(); };
    setInterval(() => this.#chip(), 1000);
  }

  /**
   * authenticated takes the gateway's reply to the token: its expiry is
   * the one that counts; none (0) for a token that has one means the
   * gateway does not check tokens.
   */
  authenticated(m) {
    this.unchecked = !m.expires && this.expires > 0;
    if (m.expires) this.expires = m.expires;
    this.#chip();
  }

  /**
   * expired takes the gateway's word that the token has expired (a 4003
   * "token expired"): the chip says so at once, whatever this page's
   * clock made of exp a moment ago.
   */
  expired() {
    this.#gatewayExpired = true;
    this.#chip();
  }

  /**
   * ask shows the panel with why a token is wanted and resolves with the
   * next token pasted there that the gateway's /symbols takes (check says
   * so). Asked again while waiting, it returns the same promise.
   * @param {string} why
   * @param {(token: string) => Promise<{ok: boolean, reason?: string}>} check
   */
  ask(why, check) {
    this.#check = check;
    this.#show(why);
    if (!this.#waiting) {
      let resolve;
      const promise = new Promise((r) => { resolve = r; });
      this.#waiting = { promise, resolve };
    }
    return this.#waiting.promise;
  }

  async #submit() {
    const input = $("tokenInput");
    const token = input.value.trim();
    if (!token) return;
    const verdict = this.#check ? await this.#check(token) : { ok: true };
    if (!verdict.ok) {
      this.#show("Not taken: " + refusal(verdict.reason) + ".", "err");
      return;
    }
    input.value = "";
    this.token = token;
    sessionStorage.setItem(KEY, token);
    this.#learn();
    $("tokenForm").hidden = true;
    const w = this.#waiting;
    this.#waiting = null;
    if (w) w.resolve(token);
    else location.reload(); // a change nobody asked for: start again with it
  }

  #show(text, kind = "") {
    $("tokenMsg").textContent = text;
    $("tokenMsg").className = "token-msg " + kind;
    $("tokenForm").hidden = false;
    $("tokenInput").focus();
  }

  /** learn reads the subject and expiry the token claims (shown; only the gateway verifies them). */
  #learn() {
    const c = jwtClaims(this.token);
    this.subject = typeof c?.sub === "string" ? c.sub : null;
    this.expires = typeof c?.exp === "number" ? c.exp : 0;
    this.#gatewayExpired = false;
    this.#chip();
  }

  #chip() {
    const chip = $("tokenChip");
    chip.hidden = !this.token;
    if (!this.token) return;
    let left = this.expires ? this.expires * 1000 - Date.now() : Infinity;
    if (this.#gatewayExpired) left = Math.min(left, 0);
    $("tokenSub").textContent = this.subject ?? "token";
    $("tokenExp").textContent = this.unchecked ? "not checked: this gateway has no auth"
      : !this.expires ? "no expiry known"
        : left > 0 ? `expires ${new Date(this.expires * 1000).toLocaleTimeString()} (in ${fmtAge(left)})`
          : left === 0 ? "expired" : `expired ${fmtAge(-left)} ago`;
    chip.dataset.expired = String(!this.unchecked && left <= 0);
    chip.dataset.sub = this.subject ?? "";
  }
}
