/**
 * Pattern routes: a route whose name ends in `*` (`claude-*`, or `*` alone) answers every model
 * name that starts with what comes before the star, so a caller may name any model of a provider
 * without a route per model. An exact route always wins; among patterns the longest prefix does
 * (`claude-*` before `*`). A deployment whose `model` is `*` runs the model the caller named; it
 * may only serve pattern routes (an exact route has no name to pass through).
 */

/** The model a passthrough deployment runs: the one the caller named. */
export const PASSTHROUGH_MODEL = '*';

/** True when `route` is a pattern (ends in `*`). */
export function isPatternRoute(route: string): boolean {
  return route.endsWith('*');
}

/** Ordered patterns of a route list: longest prefix first, so the most specific one matches. */
export function orderPatterns(routes: readonly string[]): string[] {
  return routes.filter(isPatternRoute).sort((left, right) => right.length - left.length);
}

/**
 * The configured route that answers `model`: the exact route of that name, else the longest
 * matching pattern; undefined when none does. `patterns` as {@link orderPatterns} orders them.
 */
export function matchRoute(
  model: string,
  { exact, patterns }: { exact: { has(route: string): boolean }; patterns: readonly string[] },
): string | undefined {
  if (exact.has(model) && !isPatternRoute(model)) return model;
  if (isPatternRoute(model)) return undefined;
  return patterns.find((pattern) => model.startsWith(pattern.slice(0, -1)));
}

/** {@link matchRoute} over a plain list of route names (`gateway.routes()`). */
export function routeAnswering(routes: readonly string[], model: string): string | undefined {
  return matchRoute(model, { exact: new Set(routes), patterns: orderPatterns(routes) });
}
