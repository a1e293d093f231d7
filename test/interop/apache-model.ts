/**
 * What Apache's lbmethod=heartbeat does with a table of servers, written out so the suite
 * can state the shares it expects from a real httpd (SPEC 1.8) and print them next to what
 * it measured.
 */

/** Apache's weight for one server: ready, or ready / 4 (integer division) when busy is 0. */
export function apacheWeight(ready: number, busy: number): number {
  return busy === 0 && ready !== 0 ? Math.floor(ready / 4) : ready;
}

/**
 * The share of requests each member gets from httpd, given the weights of the members that
 * are up (in balancer order).
 *
 * httpd draws `pick` uniformly from [0, sum] — sum + 1 outcomes, both ends included — and
 * walks the members with a running total `c`, choosing every member for which
 * `c <= pick <= c + weight`; the last such member wins. So member i keeps the outcomes
 * c_i … c_i + w_i − 1 (its upper bound belongs to the next member), and the last member
 * also keeps the shared bound `sum`: it gets w_last + 1 outcomes. Expected share:
 * w_i / (sum + 1), and (w_last + 1) / (sum + 1) for the last member. (Our library draws
 * exactly w_i / sum instead.)
 *
 * @returns one share in [0, 1] per weight; all 0 when the sum is 0 (httpd answers 503)
 */
export function apacheShares(weights: readonly number[]): number[] {
  const sum = weights.reduce((total, weight) => total + weight, 0);
  if (sum === 0) return weights.map(() => 0);
  return weights.map((weight, i) => (i === weights.length - 1 ? weight + 1 : weight) / (sum + 1));
}

/** Exactly proportional shares (our library's draw). */
export function proportionalShares(weights: readonly number[]): number[] {
  const sum = weights.reduce((total, weight) => total + weight, 0);
  return weights.map((weight) => (sum === 0 ? 0 : weight / sum));
}

/** Percent with two decimals, for tables in test output. */
export function percent(share: number): string {
  return `${(share * 100).toFixed(2)} %`;
}
