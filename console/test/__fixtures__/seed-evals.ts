/**
 * Seeds a console test's database with evals as `keel eval` stores them, before `keel serve`
 * starts on it (the embedded PGlite admits one process): two prompt versions of the travel
 * planner pushed, and an eval run at each (`runEval`: every case a real run of the planner on its
 * offline model, `trigger: eval`, scored and recorded). The first eval's suite expects Lisbon in
 * a Rome plan, so one case of three fails; the second's does not, so all pass.
 */
import { travelPlanner } from '../../../examples/travel-planner/agent.js';
import { createEvalStore } from '../../../src/evals/eval-store.js';
import { runEval } from '../../../src/evals/run-eval.js';
import { parseSuite } from '../../../src/evals/suite.js';
import { openStore } from '../../../src/journal/open-store.js';
import { createPromptRegistry } from '../../../src/prompts/prompt-registry.js';
import { silentLogger } from '../../../src/util/logger.js';

const suite = (rome: string) => `
name: travel-smoke
agent: travel-planner
cases:
  - id: lisbon
    input: 3 days in Lisbon in May
    tags: [city]
    expect:
      - contains: Lisbon
      - trajectory: { mode: superset, steps: [geocode, weather, places] }
  - id: rome
    input: 2 days in Rome in October
    expect:
      - contains: ${rome}
  - id: weather-outage
    input: 2 days in Paris in March
    tools:
      weather: { error: Weather service unavailable }
    expect:
      - tool_called: weather
`;

export interface SeededEvals {
  /** The pushed versions, oldest first, and the eval run at each. */
  versions: { version: string; evalId: string; runIds: Record<string, string> }[];
}

/** Seeds the database `env` names (`KEEL_DATA_DIR` or `DATABASE_URL`), tenant `default`. */
export async function seedEvals(env: Record<string, string>): Promise<SeededEvals> {
  const { store, client } = await openStore({ env, logger: silentLogger });
  try {
    const prompts = createPromptRegistry({ client });
    const evalStore = createEvalStore({ client });
    const versions: SeededEvals['versions'] = [];
    for (const [index, rome] of ['Lisbon', 'Rome'].entries()) {
      const { version } = await prompts.push({
        tenantId: 'default',
        actor: 'cli:ada',
        agent: 'travel-planner',
        text: `${travelPlanner.instructions}\n\nRevision ${index + 1}.`,
        note: `revision ${index + 1}`,
      });
      await prompts.pin({
        tenantId: 'default',
        actor: 'cli:ada',
        agent: 'travel-planner',
        version: version.version,
      });
      const outcome = await runEval({
        suite: parseSuite({ text: suite(rome), file: 'travel-smoke.yaml' }),
        agents: [travelPlanner],
        store,
        evalStore,
        prompts,
        concurrency: 2,
        createdBy: 'cli:ada',
        settings: { logger: silentLogger, pollMs: 20 },
      });
      versions.push({
        version: version.version,
        evalId: outcome.eval.id,
        runIds: Object.fromEntries(outcome.results.map((result) => [result.caseId, result.runId ?? ''])),
      });
    }
    return { versions };
  } finally {
    await store.close();
  }
}
