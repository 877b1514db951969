import { fileURLToPath } from 'node:url';
import { cruise, format, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const configPath = fileURLToPath(new URL('../.dependency-cruiser.mjs', import.meta.url));

/** Cruises `paths` with the project's rules (what `npm run lint:deps` runs). */
async function cruiseWithProjectRules(paths: string[], { fixtures = false } = {}) {
  const { default: config } = (await import(configPath)) as { default: IConfiguration };
  const options = config.options ?? {};
  const previous = process.cwd();
  process.chdir(root);
  try {
    const { output } = await cruise(paths, {
      ...options,
      ruleSet: { forbidden: config.forbidden ?? [] },
      validate: true,
      // The real run leaves fixtures out; here the fixture is the point.
      ...(fixtures ? { exclude: { path: ['\\.test\\.ts$'] }, maxDepth: 1 } : {}),
    });
    const result = output as ICruiseResult;
    const report = (await format(result, { outputType: 'err-long' })).output as string;
    return { violations: result.summary.violations, report };
  } finally {
    process.chdir(previous);
  }
}

describe('the dependency direction (.dependency-cruiser.mjs)', () => {
  it('fails a deliberately wrong import, naming the rule and what the folder may import', async () => {
    const { violations, report } = await cruiseWithProjectRules(
      ['src/errors/__fixtures__/imports-the-runtime.ts'],
      { fixtures: true },
    );
    expect(violations).toEqual([
      expect.objectContaining({
        from: 'src/errors/__fixtures__/imports-the-runtime.ts',
        to: 'src/runtime/agent.ts',
        rule: { name: 'layers/errors', severity: 'error' },
      }),
    ]);
    expect(report).toContain('layers/errors');
    expect(report).toContain('src/errors may import only src/util');
  });

  it('fails a folder that has no place in the layers', async () => {
    const { violations } = await cruiseWithProjectRules(['src/__fixtures__/unplaced-folder.ts'], {
      fixtures: true,
    });
    expect(violations).toEqual([
      expect.objectContaining({
        from: 'src/__fixtures__/unplaced-folder.ts',
        to: 'src/util/ids.ts',
        rule: { name: 'layers/unknown-part', severity: 'error' },
      }),
    ]);
  });

  it('passes the real tree', async () => {
    const { violations, report } = await cruiseWithProjectRules(['src']);
    expect(report).not.toContain('error');
    expect(violations).toEqual([]);
  });
});
