/**
 * The direction of dependencies between the folders of src/ (docs/architecture.md, "Layers and
 * dependencies"), checked by `npm run lint:deps` (part of `npm test`) with dependency-cruiser
 * (docs/decisions/2026-12-06-dependency-direction-lint.md).
 *
 * `layers` maps each part of src/ to the parts it may import, besides itself. A part is a folder
 * (`journal`), a subfolder (`gateway/http`) or a file (`model/model.ts`, `index.ts`); a file is
 * judged by its most specific part. Type-only imports count: a type is a dependency too. Tests
 * and fixtures are not judged: a test may assemble anything.
 */

const INTERFACES = ['errors', 'util'];

export const layers = {
  // interfaces and utilities: the bottom
  util: [],
  errors: ['util'],
  // adapters: the database and the journal over it, model providers, tools, the gateway's core
  model: [...INTERFACES],
  journal: [...INTERFACES, 'model/model.ts'],
  feedback: [...INTERFACES, 'journal'],
  analytics: [...INTERFACES, 'journal'],
  guards: [...INTERFACES, 'model/model.ts'],
  tools: [...INTERFACES, 'journal', 'model/model.ts'],
  gateway: [...INTERFACES, 'journal', 'model'],
  // observers: what runs and gateway calls report
  telemetry: [...INTERFACES, 'journal', 'gateway'],
  metrics: [...INTERFACES, 'journal', 'gateway', 'telemetry'],
  // core
  runtime: [...INTERFACES, 'journal', 'model', 'tools', 'guards', 'telemetry'],
  // features over the core; governance acts on runs through the runtime's StepPolicy seam
  cassettes: [...INTERFACES, 'journal', 'model', 'runtime'],
  prompts: [...INTERFACES, 'journal', 'runtime'],
  budgets: [...INTERFACES, 'journal', 'model', 'gateway', 'runtime'],
  controls: [...INTERFACES, 'journal', 'runtime', 'metrics'],
  evals: [...INTERFACES, 'journal', 'model', 'tools', 'runtime', 'cassettes', 'prompts', 'feedback'],
  // composition: a config names agents, routes, budgets, controls and scorers; governance opens them
  config: [
    ...INTERFACES,
    'journal',
    'model',
    'tools',
    'guards',
    'gateway',
    'runtime',
    'budgets',
    'controls',
    'evals',
  ],
  governance: [...INTERFACES, 'journal', 'runtime', 'metrics', 'budgets', 'controls', 'prompts', 'config'],
  // entry points and public entries
  'gateway/index.ts': [...INTERFACES, 'gateway', 'model', 'journal'],
  'index.ts': [
    ...INTERFACES,
    'model',
    'journal',
    'feedback',
    'analytics',
    'guards',
    'tools',
    'telemetry',
    'metrics',
    'runtime',
    'cassettes',
    'prompts',
    'budgets',
    'controls',
    'evals',
    'config',
    'governance',
  ],
  testing: [
    ...INTERFACES,
    'model',
    'journal',
    'feedback',
    'analytics',
    'guards',
    'tools',
    'gateway',
    'telemetry',
    'metrics',
    'runtime',
    'cassettes',
    'prompts',
    'budgets',
    'controls',
    'evals',
    'config',
    'governance',
  ],
  // the HTTP layer the run API and the gateway's endpoints share: body reading, JSON answers, API
  // key verification, errors to status, wire routes on Hono (docs/decisions/2026-12-06-shared-http-layer.md)
  http: [...INTERFACES, 'gateway/api-keys.ts'],
  'gateway/http': [...INTERFACES, 'http', 'model', 'journal', 'gateway', 'telemetry', 'budgets'],
  server: ['*', '!cli', '!testing', '!index.ts'],
  cli: ['*', '!testing'],
};

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The path pattern of a part: a folder and what is under it, or one file. */
const pattern = (part) => (part.endsWith('.ts') ? `^src/${escape(part)}$` : `^src/${escape(part)}/`);
const parts = Object.keys(layers);
/** The parts nested in `part` (`gateway/http` in `gateway`): judged by their own rule. */
const nestedIn = (part) => parts.filter((other) => other !== part && other.startsWith(`${part}/`));

function allowedFor(part) {
  const allowed = layers[part];
  if (!allowed.includes('*')) return [part, ...allowed];
  const denied = allowed.filter((entry) => entry.startsWith('!')).map((entry) => entry.slice(1));
  return parts.filter((other) => !denied.includes(other));
}

const layerRules = parts.map((part) => {
  const allowed = allowedFor(part);
  return {
    name: `layers/${part}`,
    comment: `src/${part} may import only ${
      allowed
        .filter((other) => other !== part)
        .map((other) => `src/${other}`)
        .join(', ') || 'nothing else in src'
    } (docs/architecture.md, "Layers and dependencies")`,
    severity: 'error',
    from: { path: pattern(part), pathNot: nestedIn(part).map(pattern) },
    to: {
      path: '^src/',
      pathNot: allowed.flatMap((other) => [pattern(other), ...(other.endsWith('.ts') ? [] : [])]),
    },
  };
});

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...layerRules,
    {
      name: 'layers/unknown-part',
      comment:
        'every folder of src/ has a place in the layers of .dependency-cruiser.mjs (and docs/architecture.md): add it there',
      severity: 'error',
      from: { path: '^src/', pathNot: parts.map(pattern) },
      to: { path: '^src/' },
    },
  ],
  options: {
    includeOnly: '^src/',
    exclude: { path: ['\\.test\\.ts$', '/__fixtures__/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
