import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/** The package's entry points (package.json `exports`) and their sources. */
const ENTRIES = {
  keel: 'src/index.ts',
  'keel/gateway': 'src/gateway/index.ts',
  'keel/server': 'src/server/index.ts',
  'keel/testing': 'src/testing/index.ts',
} as const;

const root = fileURLToPath(new URL('..', import.meta.url));
const page = readFileSync(new URL('../docs/exports.md', import.meta.url), 'utf8');

/** Names exported without a doc comment of Keel's: `z` is zod's own namespace, documented by zod. */
const THIRD_PARTY = new Set(['z']);

interface Exported {
  name: string;
  /** The doc comment on the declaration the name leads to (through re-exports). */
  doc: string;
}

/** Every name an entry exports, values and types alike, as the type checker sees them. */
function exportsOf(files: readonly string[]): Map<string, Exported[]> {
  const configFile = ts.getParsedCommandLineOfConfigFile(
    `${root}/tsconfig.json`,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  );
  const program = ts.createProgram(
    files.map((file) => `${root}/${file}`),
    { ...configFile!.options, noEmit: true },
  );
  const checker = program.getTypeChecker();
  return new Map(
    files.map((file) => {
      const source = program.getSourceFile(`${root}/${file}`)!;
      const module = checker.getSymbolAtLocation(source)!;
      const exported = checker.getExportsOfModule(module).map((symbol) => {
        const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
        const doc = ts.displayPartsToString(target.getDocumentationComment(checker)).trim();
        return { name: symbol.name, doc };
      });
      return [file, exported];
    }),
  );
}

/** The names docs/exports.md lists under an entry's heading (`## \`keel/gateway\``). */
function documentedNames(entry: string): Set<string> {
  const sections = page.split(/^## /m);
  const section = sections.find((text) => text.startsWith(`\`${entry}\`\n`));
  if (section === undefined) return new Set();
  return new Set([...section.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)].map((match) => match[1]!));
}

describe('the public entries and docs/exports.md', () => {
  const exported = exportsOf(Object.values(ENTRIES));

  it.each(Object.entries(ENTRIES))(
    'lists every export of %s, and nothing it does not export',
    (entry, file) => {
      const names = exported.get(file)!.map(({ name }) => name);
      expect(names.length).toBeGreaterThan(10);
      const documented = documentedNames(entry);
      expect(names.filter((name) => !documented.has(name))).toEqual([]);
      expect([...documented].filter((name) => !names.includes(name))).toEqual([]);
    },
  );

  it.each(Object.entries(ENTRIES))('has a doc comment on every export of %s', (_entry, file) => {
    const undocumented = exported
      .get(file)!
      .filter(({ name, doc }) => doc === '' && !THIRD_PARTY.has(name))
      .map(({ name }) => name);
    expect(undocumented).toEqual([]);
  });

  it('matches the package exports', () => {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      exports: Record<string, { types?: string; import?: string }>;
    };
    for (const [entry, file] of Object.entries(ENTRIES)) {
      const built = file.replace(/^src\//, './dist/').replace(/\.ts$/, '');
      expect(manifest.exports[entry.replace(/^keel/, '.')]).toEqual({
        types: `${built}.d.ts`,
        import: `${built}.js`,
      });
    }
  });

  it('keeps the HTTP server and the gateway out of the root entry', () => {
    const root = exported.get(ENTRIES.keel)!.map(({ name }) => name);
    for (const name of ['createServer', 'createGateway', 'createGatewayService', 'createApiKeys']) {
      expect(root).not.toContain(name);
    }
  });
});
