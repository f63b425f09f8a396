// The token a connection presents, and its renewal through onToken: after
// a close 4003, and shortly before the `exp` of a JWT, so that an open
// connection can send the new one as an `auth` message instead of being
// closed at exp.

import { TickgateError } from "./errors.js";

/** The most a renewal comes before exp; otherwise a fifth of the token's remaining life. */
const RENEW_EARLY_MS = 30000;

/**
 * jwtClaims returns the claims of a JWT, decoded but not verified (only the
 * gateway can), or undefined if token is not a JWT whose payload is a JSON
 * object.
 * @param {string} [token]
 * @returns {Record<string, unknown>|undefined}
 */
export function jwtClaims(token) {
  const part = typeof token === "string" ? token.split(".")[1] : undefined;
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
    return claims !== null && typeof claims === "object" && !Array.isArray(claims) ? claims : undefined;
  } catch {
    return undefined;
  }
}

/**
 * jwtExp returns the `exp` claim (Unix seconds) of a JWT, or undefined if
 * token is not a JWT with a numeric exp.
 * @param {string} [token]
 * @returns {number|undefined}
 */
export function jwtExp(token) {
  const exp = jwtClaims(token)?.exp;
  return typeof exp === "number" ? exp : undefined;
}

/** Token is a client's current token and the timer that renews it before exp. */
export class Token {
  #value; #onToken; #onError; #timer = null;

  /**
   * @param {string|undefined} value
   * @param {(() => Promise<string>|string)|undefined} onToken
   * @param {(err: TickgateError) => void} onError told when onToken throws
   */
  constructor(value, onToken, onError) {
    this.#value = value;
    this.#onToken = onToken;
    this.#onError = onError;
  }

  /** @returns {string|undefined} the token the next connect carries */
  get value() { return this.#value; }

  /** @returns {boolean} whether there is an onToken to ask for a new token */
  get renewable() { return typeof this.#onToken === "function"; }

  /** @returns {boolean} a renewable JWT within a second of its exp: renew it before connecting with it */
  get expiring() {
    const exp = jwtExp(this.#value);
    return this.renewable && exp !== undefined && exp * 1000 - Date.now() < 1000;
  }

  /** refresh asks onToken for a new token; a failure keeps the old one and is reported. */
  async refresh() {
    try {
      const t = await this.#onToken();
      if (typeof t === "string" && t) this.#value = t;
    } catch (err) {
      this.#onError(new TickgateError("token", String(err && err.message || err)));
    }
  }

  /**
   * schedule renews a JWT before its exp and hands a changed token to
   * renewed, which returns false once nobody needs it (the client closed);
   * otherwise the next renewal is scheduled in turn.
   * @param {(token: string) => boolean} renewed
   */
  schedule(renewed) {
    this.stop();
    const exp = jwtExp(this.#value);
    if (!this.renewable || exp === undefined) return;
    const left = exp * 1000 - Date.now();
    const wait = Math.max(0, left - Math.min(RENEW_EARLY_MS, left / 5));
    this.#timer = setTimeout(async () => {
      const before = this.#value;
      await this.refresh();
      if (this.#value !== before && renewed(this.#value)) this.schedule(renewed);
    }, wait);
  }

  /** stop cancels a scheduled renewal. */
  stop() { clearTimeout(this.#timer); }
}
