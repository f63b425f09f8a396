// The history budget: the most history messages (history × symbols) one
// subscribe may ask for. The gateway says it in the welcome, the first
// message of every connection; the client splits bigger asks into several
// requests, as the gateway's invalid_request for them says to.

/**
 * DEFAULT_BUDGET is the budget of a connection whose gateway has not said
 * (yet, or at all: gateways before the welcome): the gateway's default,
 * fanout.conflate_at / 256.
 */
export const DEFAULT_BUDGET = 1024;

/**
 * budgetOf reads history_budget from a welcome message, or DEFAULT_BUDGET
 * when it has none that is a whole number.
 * @param {{history_budget?: unknown}} welcome
 * @returns {number}
 */
export function budgetOf(welcome) {
  const b = welcome?.history_budget;
  return Number.isInteger(b) && b >= 0 ? b : DEFAULT_BUDGET;
}

/**
 * historyBatches splits syms into requests of at most budget messages of
 * history each (history per symbol; 0: no history, one request). A symbol
 * whose history alone is past the budget goes alone, for the gateway to
 * refuse with invalid_request.
 * @param {string[]} syms
 * @param {number} history
 * @param {number} budget
 * @returns {string[][]}
 */
export function historyBatches(syms, history, budget) {
  const per = history > 0 ? Math.max(1, Math.floor(budget / history)) : syms.length;
  const out = [];
  for (let i = 0; i < syms.length; i += per) out.push(syms.slice(i, i + per));
  return out;
}
