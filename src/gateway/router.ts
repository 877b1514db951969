/**
 * Routing: a route name (what callers put in `model`) becomes an ordered plan of deployments to
 * try. The route's own deployments come first, in a weighted random order, so traffic splits by
 * weight (two keys of one provider are two deployments of one route, and share its traffic); then
 * the deployments of each fallback route, depth first, each route again in weighted order. A
 * deployment appears once in a plan even when several routes of the chain share it.
 *
 * The plan lists every deployment, healthy or not. Skipping a deployment whose breaker is open
 * happens when the call reaches it (`CircuitBreaker.tryAcquire`), because a long call may find a
 * breaker in another state than at planning time, and only then can a half-open breaker hand out
 * its single probe. When every deployment of a plan is skipped this way the call fails fast with
 * `gateway_unavailable` and the earliest retry time, rather than sending traffic to an upstream
 * known to be failing: that is the point of a breaker, and its cooldown probe restores traffic.
 * A deployment disabled at runtime (a kill switch, `CreateGatewayOptions.isDeploymentDisabled`)
 * is skipped the same way, at the attempt, so a switch flipped mid-call applies to its next one.
 *
 * A pattern route (`claude-*`, see route-patterns.ts) answers every model name it matches: the
 * first call of a name compiles a route of that name from the pattern's, its deployments made
 * for that model by `forModel` (a passthrough deployment runs the named model), and keeps it
 * (up to {@link MAX_MATCHED_ROUTES} names, the oldest dropped first).
 */
import type { RouteConfig } from './gateway-config.js';
import { UnknownRouteError } from './gateway-errors.js';
import { matchRoute, orderPatterns } from './route-patterns.js';

/** Names answered by pattern routes kept compiled; callers choose names, so the set is bounded. */
export const MAX_MATCHED_ROUTES = 1_000;

/** What the router needs of a deployment. */
export interface RoutableDeployment {
  readonly name: string;
  /** Positive share of its routes' traffic. */
  readonly weight: number;
}

/** Resolves route names to plans. */
export interface Router<D extends RoutableDeployment> {
  /** Route names, in configuration order (patterns as written, `claude-*`). */
  routes(): string[];
  /** True when `route` is known, or a pattern route matches it. */
  has(route: string): boolean;
  /**
   * The route's configuration (a matched pattern's, named `route`); throws UnknownRouteError
   * (code `unknown_model`) for an unknown name.
   */
  route(route: string): RouteConfig;
  /** The route's own deployments in configured order, made for its model; throws like `route`. */
  members(route: string): readonly D[];
  /** The ordered deployments to try for `route`; throws UnknownRouteError for an unknown name. */
  plan(route: string): readonly D[];
}

/** Options of {@link createRouter}. Routes must be validated (known references, no cycles). */
export interface RouterOptions<D extends RoutableDeployment> {
  routes: readonly RouteConfig[];
  deployments: ReadonlyMap<string, D>;
  /** Uniform in [0, 1); injected so tests can seed it. */
  random: () => number;
  /**
   * The deployment that serves `model` through a pattern route (a passthrough deployment made
   * for the named model). Default: the deployment itself.
   */
  forModel?: (deployment: D, model: string) => D;
}

interface CompiledRoute<D> {
  config: RouteConfig;
  members: readonly D[];
  /** The route itself, then its fallbacks depth first, each once. */
  chain: { members: D[]; totalWeight: number }[];
  /** The whole plan when no step has a choice to make (one deployment per route). */
  fixedPlan: readonly D[] | undefined;
}

/** Creates a router over validated routes. */
export function createRouter<D extends RoutableDeployment>({
  routes,
  deployments,
  random,
  forModel = (deployment) => deployment,
}: RouterOptions<D>): Router<D> {
  const byName = new Map(routes.map((route) => [route.name, route]));
  /** `model` set: the route answers that name through a pattern (its first step's deployments made for it). */
  const compile = (route: RouteConfig, model?: string): CompiledRoute<D> => {
    const chain = fallbackChain(route.name, byName).map((name, index) => {
      const members = (byName.get(name)?.deployments ?? []).map((deployment) => {
        const found = deployments.get(deployment);
        if (found === undefined) throw new Error(`route ${name} references unknown deployment ${deployment}`);
        return model !== undefined && index === 0 ? forModel(found, model) : found;
      });
      return { members, totalWeight: members.reduce((sum, member) => sum + member.weight, 0) };
    });
    const fixed = chain.every((step) => step.members.length === 1);
    return {
      config: model === undefined ? route : { ...route, name: model },
      members: chain[0]?.members ?? [],
      chain,
      fixedPlan: fixed ? Object.freeze(unique(chain.flatMap((step) => step.members))) : undefined,
    };
  };
  const compiled = new Map<string, CompiledRoute<D>>();
  for (const route of routes) compiled.set(route.name, compile(route));
  const names = routes.map((route) => route.name);
  const patterns = orderPatterns(names);
  const matched = new Map<string, CompiledRoute<D>>();

  const compiledRoute = (route: string): CompiledRoute<D> => {
    const name = matchRoute(route, { exact: compiled, patterns });
    if (name === undefined) throw new UnknownRouteError({ route, known: names });
    if (name === route) return compiled.get(name) as CompiledRoute<D>;
    let found = matched.get(route);
    if (found === undefined) {
      found = compile(byName.get(name) as RouteConfig, route);
      if (matched.size >= MAX_MATCHED_ROUTES) matched.delete(matched.keys().next().value as string);
      matched.set(route, found);
    }
    return found;
  };

  return {
    routes: () => [...names],
    has: (route) => matchRoute(route, { exact: compiled, patterns }) !== undefined,
    route: (route) => compiledRoute(route).config,
    members: (route) => compiledRoute(route).members,
    plan(route) {
      const { chain, fixedPlan } = compiledRoute(route);
      if (fixedPlan !== undefined) return fixedPlan;
      const plan: D[] = [];
      for (const step of chain) appendWeightedOrder({ step, plan, random });
      return plan;
    },
  };
}

/**
 * Appends the step's deployments in a weighted random order: each position is drawn among the
 * deployments left with probability proportional to weight. The first position, which takes
 * nearly all traffic, therefore splits exactly by weight.
 */
function appendWeightedOrder<D extends RoutableDeployment>({
  step,
  plan,
  random,
}: {
  step: { members: D[]; totalWeight: number };
  plan: D[];
  random: () => number;
}): void {
  const { members } = step;
  if (members.length === 1) {
    const only = members[0] as D;
    if (!plan.includes(only)) plan.push(only);
    return;
  }
  const left = members.slice();
  let total = step.totalWeight;
  while (left.length > 0) {
    let draw = random() * total;
    let index = 0;
    // Stops at the last one even if rounding left `draw` a hair above the sum of weights.
    while (index < left.length - 1) {
      draw -= (left[index] as D).weight;
      if (draw < 0) break;
      index++;
    }
    const chosen = left[index] as D;
    left.splice(index, 1);
    total -= chosen.weight;
    if (!plan.includes(chosen)) plan.push(chosen);
  }
}

/** The route then its fallbacks, depth first, each route once (validation already ruled out cycles). */
function fallbackChain(route: string, byName: ReadonlyMap<string, RouteConfig>): string[] {
  const order: string[] = [];
  const visit = (name: string) => {
    if (order.includes(name)) return;
    order.push(name);
    for (const fallback of byName.get(name)?.fallbacks ?? []) visit(fallback);
  };
  visit(route);
  return order;
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}
