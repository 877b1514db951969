/**
 * Validation of a gateway configuration at creation: the zod schema, then what a schema cannot
 * say about one field alone (unique names, routes referencing known deployments and routes, no
 * fallback cycles). Every problem becomes one ConfigError (`config_invalid`) listing them all.
 */
import { z } from 'zod';
import { ConfigError } from '../errors/config-errors.js';
import {
  gatewayConfigSchema,
  type DeploymentConfig,
  type GatewayConfig,
  type GatewayConfigInput,
} from './gateway-config.js';
import { isPatternRoute, PASSTHROUGH_MODEL } from './route-patterns.js';

/**
 * Parses a user's config (defaults optional) or an already parsed one. `languageModel`, which the
 * schema does not know, is kept for the deployments that have one.
 */
export function parseGatewayConfig(input: GatewayConfigInput | GatewayConfig): GatewayConfig {
  const parsed = gatewayConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      'config_invalid',
      `The gateway config is invalid:\n${z.prettifyError(parsed.error)}`,
      {
        issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
      },
    );
  }
  const inputDeployments = (input as { deployments: Partial<DeploymentConfig>[] }).deployments;
  const deployments: DeploymentConfig[] = parsed.data.deployments.map((deployment, index) => {
    const languageModel = inputDeployments[index]?.languageModel;
    return languageModel === undefined ? deployment : { ...deployment, languageModel };
  });
  const config: GatewayConfig = { ...parsed.data, deployments };

  const problems: string[] = [];
  const deploymentNames = new Set<string>();
  for (const deployment of deployments) {
    if (deploymentNames.has(deployment.name))
      problems.push(`deployment "${deployment.name}" is defined twice`);
    deploymentNames.add(deployment.name);
  }
  const passthrough = new Set(
    deployments
      .filter(
        (deployment) => deployment.model === PASSTHROUGH_MODEL && deployment.languageModel === undefined,
      )
      .map((deployment) => deployment.name),
  );
  const routeNames = new Set(config.routes.map((route) => route.name));
  const routes = new Map<string, GatewayConfig['routes'][number]>();
  for (const route of config.routes) {
    if (routes.has(route.name)) problems.push(`route "${route.name}" is defined twice`);
    routes.set(route.name, route);
    for (const deployment of route.deployments) {
      if (!deploymentNames.has(deployment)) {
        problems.push(`route "${route.name}" uses unknown deployment "${deployment}"`);
      } else if (!isPatternRoute(route.name) && passthrough.has(deployment)) {
        problems.push(
          `route "${route.name}" uses deployment "${deployment}", whose model "*" only a pattern route (a name ending in *) can fill`,
        );
      }
    }
    for (const fallback of route.fallbacks) {
      if (!routeNames.has(fallback)) {
        problems.push(`route "${route.name}" falls back to unknown route "${fallback}"`);
      } else if (isPatternRoute(fallback)) {
        problems.push(
          `route "${route.name}" falls back to the pattern route "${fallback}": name an exact route`,
        );
      }
    }
  }
  if (problems.length === 0) {
    const cycle = findFallbackCycle(routes);
    if (cycle !== undefined) problems.push(`routes fall back in a cycle: ${cycle.join(' → ')}`);
  }
  if (problems.length > 0) {
    throw new ConfigError('config_invalid', `The gateway config is invalid: ${problems.join('; ')}.`, {
      problems,
    });
  }
  return config;
}

/** A fallback cycle as the list of route names that form it (first repeated at the end), if any. */
function findFallbackCycle(routes: ReadonlyMap<string, { fallbacks: string[] }>): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const onPath = path.indexOf(name);
    if (onPath !== -1) return [...path.slice(onPath), name];
    if (done.has(name)) return undefined;
    path.push(name);
    for (const fallback of routes.get(name)?.fallbacks ?? []) {
      const cycle = visit(fallback);
      if (cycle !== undefined) return cycle;
    }
    path.pop();
    done.add(name);
    return undefined;
  };
  for (const name of routes.keys()) {
    const cycle = visit(name);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}
