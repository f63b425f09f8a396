// Test kit: Debian's chromium, driven by playwright-core, for the tests of
// the page at /. Tests skip (naming the package) where it is not installed,
// and write their screenshots to clients/js/test-output/.

import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const CHROMIUM = "/usr/bin/chromium";
const out = join(dirname(fileURLToPath(import.meta.url)), "..", "test-output");

/** skip is node:test's skip option: false, or why the browser tests cannot run here. */
export const skip = existsSync(CHROMIUM) ? false : `no ${CHROMIUM}: install Debian's chromium package (apt-get install chromium)`;

/** launch starts a headless chromium that closes when test t ends. */
export async function launch(t) {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"],
  });
  t.after(() => browser.close());
  return browser;
}

/** screenshot is the path of a screenshot named name in test-output/, which it creates. */
export function screenshot(name) {
  mkdirSync(out, { recursive: true });
  return join(out, name);
}

/**
 * watchErrors collects page's uncaught errors and console errors, but for
 * those matching expected: by default the refused connects a test that
 * stops its gateway causes on purpose.
 * @returns {string[]}
 */
export function watchErrors(page, expected = /WebSocket connection to .* failed/) {
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error" && !expected.test(m.text())) errors.push(m.text()); });
  return errors;
}
