import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { z } from 'zod';
import { SuiteInvalidError } from '../errors/eval-errors.js';
import { isScorerKind, SCORER_KINDS, SCORER_SPEC_SCHEMAS, type ScorerSpec } from './scorer-spec.js';

/** A message of the session history a case starts from. */
export interface SessionMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** What a simulated tool does in a case: answer `output`, or fail with the `error` message. */
export type ToolSimulation = { output: unknown } | { error: string };

/** One eval case: what the agent gets and what its run must satisfy. */
export interface EvalCase {
  /** Given in the suite, or `<file name>-<1-based index>`. Unique within a suite. */
  id: string;
  input: unknown;
  session?: SessionMessage[];
  /** The user's profile or preferences, handed to the run as the suite gives it. */
  user?: Record<string, unknown>;
  /**
   * Tool simulators for this case: a named tool returns `output` or fails with `error` instead
   * of running (an outage, a fixed answer), so a case pins the world its run sees.
   */
  tools?: Record<string, ToolSimulation>;
  tags: string[];
  expect: ScorerSpec[];
  /** Where the case was written, for reports. */
  file: string;
  line: number;
}

/** An eval suite: its cases and scorers. */
export interface Suite {
  name?: string;
  /** The agent the cases run against, when the suite names it. */
  agent?: string;
  cases: EvalCase[];
}

/** The file format of a suite: `yaml` or `jsonl`. */
export type SuiteFormat = 'yaml' | 'jsonl';

const SUITE_EXTENSIONS: Record<string, SuiteFormat> = {
  '.yaml': 'yaml',
  '.yml': 'yaml',
  '.json': 'yaml',
  '.jsonl': 'jsonl',
};

const caseSchema = z.strictObject({
  id: z.string().min(1).optional(),
  input: z.unknown().refine((value) => value !== undefined && value !== null, 'is required'),
  session: z
    .array(z.strictObject({ role: z.enum(['user', 'assistant']), content: z.string() }))
    .superRefine((messages, context) => {
      // A session's history is its earlier exchanges: a user message, then the answer.
      messages.forEach((message, index) => {
        const wanted = index % 2 === 0 ? 'user' : 'assistant';
        if (message.role !== wanted)
          context.addIssue({
            code: 'custom',
            path: [index, 'role'],
            message: `must be ${wanted}: a session alternates user and assistant messages, starting with user`,
          });
      });
      if (messages.length % 2 === 1)
        context.addIssue({
          code: 'custom',
          path: [messages.length - 1],
          message: 'ends with a user message that has no answer: the next user message is the case input',
        });
    })
    .optional(),
  user: z.record(z.string(), z.unknown()).optional(),
  tools: z
    .record(
      z.string().min(1),
      z.union([
        z.strictObject({ output: z.unknown().refine((value) => value !== undefined, 'is required') }),
        z.strictObject({ error: z.string().min(1) }),
      ]),
    )
    .optional(),
  tags: z.array(z.string()).default([]),
  expect: z.array(z.unknown()).min(1, 'needs at least one scorer'),
});

const headerSchema = z.strictObject({
  name: z.string().optional(),
  agent: z.string().optional(),
  description: z.string().optional(),
  cases: z.array(z.unknown()),
});

type Path = (string | number)[];

/** `cases[2].expect[0].contains` */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, index) =>
      typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`,
    )
    .join('');
}

/** Reports problems with the line of the deepest node that exists on the path. */
type Locate = (path: Path) => number;

function fail(file: string, locate: Locate, path: Path, problem: string): never {
  throw new SuiteInvalidError({ file, line: locate(path), field: formatPath(path), problem });
}

function firstIssue(file: string, locate: Locate, base: Path, error: z.ZodError): never {
  // A misspelt field explains the "missing" one that zod also reports: name the misspelling.
  const issue = error.issues.find((each) => each.code === 'unrecognized_keys') ?? error.issues[0]!;
  let path: Path = [...base, ...(issue.path as Path)];
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    path = [...path, issue.keys[0]!];
    message = 'is not a known field';
  } else if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
    message = 'is required';
  }
  return fail(file, locate, path, message);
}

function parseScorer(file: string, locate: Locate, path: Path, value: unknown): ScorerSpec {
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    Object.keys(value).length !== 1
  ) {
    fail(file, locate, path, `must be an object with one scorer as key (${SCORER_KINDS.join(', ')})`);
  }
  const [kind, options] = Object.entries(value)[0]!;
  if (!isScorerKind(kind))
    fail(file, locate, [...path, kind], `unknown scorer (known: ${SCORER_KINDS.join(', ')})`);
  const parsed = SCORER_SPEC_SCHEMAS[kind].safeParse(options);
  if (!parsed.success) firstIssue(file, locate, [...path, kind], parsed.error);
  const spec = { kind, ...(parsed.data as object) } as ScorerSpec;
  if (spec.kind === 'json_schema') {
    try {
      z.fromJSONSchema(spec.schema as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (error) {
      fail(
        file,
        locate,
        [...path, kind, 'schema'],
        `is not a usable JSON Schema (${(error as Error).message})`,
      );
    }
  }
  return spec;
}

function parseCase(file: string, locate: Locate, path: Path, value: unknown, index: number): EvalCase {
  const parsed = caseSchema.safeParse(value);
  if (!parsed.success) firstIssue(file, locate, path, parsed.error);
  const { id, input, session, user, tools, tags, expect } = parsed.data;
  return {
    id: id ?? `${basename(file, extname(file))}-${index + 1}`,
    input,
    ...(session ? { session } : {}),
    ...(user ? { user } : {}),
    ...(tools ? { tools: tools as Record<string, ToolSimulation> } : {}),
    tags,
    expect: expect.map((spec, at) => parseScorer(file, locate, [...path, 'expect', at], spec)),
    file,
    line: locate(path),
  };
}

function yamlLocator(document: Document, lines: LineCounter): Locate {
  return (path) => {
    for (let length = path.length; length >= 0; length -= 1) {
      const node = length === 0 ? document.contents : document.getIn(path.slice(0, length), true);
      if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
    }
    return 1;
  };
}

function parseYaml(text: string, file: string): Suite {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const syntax = document.errors[0];
  if (syntax) {
    throw new SuiteInvalidError({
      file,
      line: syntax.linePos?.[0].line ?? 1,
      field: '',
      problem: `not valid YAML (${syntax.message.split('\n')[0]})`,
    });
  }
  const locate = yamlLocator(document, lines);
  const root: unknown = document.toJS({ maxAliasCount: 100 });
  if (Array.isArray(root)) {
    return { cases: root.map((value, index) => parseCase(file, locate, [index], value, index)) };
  }
  if (typeof root !== 'object' || root === null) {
    fail(file, locate, [], 'a suite is a list of cases or an object with `cases`');
  }
  const header = headerSchema.safeParse(root);
  if (!header.success) firstIssue(file, locate, [], header.error);
  const { cases, ...rest } = header.data;
  return {
    ...rest,
    cases: cases.map((value, index) => parseCase(file, locate, ['cases', index], value, index)),
  };
}

function parseJsonl(text: string, file: string): Suite {
  const cases: EvalCase[] = [];
  text.split('\n').forEach((raw, at) => {
    const line = at + 1;
    if (raw.trim() === '') return;
    const locate: Locate = () => line;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      fail(file, locate, [], `not valid JSON (${(error as Error).message})`);
    }
    cases.push(parseCase(file, locate, [], value, cases.length));
  });
  return { cases };
}

function checkUniqueIds(cases: readonly EvalCase[]): void {
  const seen = new Set<string>();
  for (const evalCase of cases) {
    if (seen.has(evalCase.id)) {
      throw new SuiteInvalidError({
        file: evalCase.file,
        line: evalCase.line,
        field: 'id',
        problem: `duplicate case id "${evalCase.id}"`,
      });
    }
    seen.add(evalCase.id);
  }
}

/**
 * Parses one suite file's text: YAML (a list of cases, or `{ name?, agent?, cases }`) or JSONL
 * (one case per line). The format follows the extension unless given. Throws `suite_invalid`
 * naming file, line and field.
 */
export function parseSuite({
  text,
  file,
  format,
}: {
  text: string;
  file: string;
  format?: SuiteFormat;
}): Suite {
  const chosen = format ?? SUITE_EXTENSIONS[extname(file).toLowerCase()] ?? 'yaml';
  const suite = chosen === 'jsonl' ? parseJsonl(text, file) : parseYaml(text, file);
  checkUniqueIds(suite.cases);
  return suite;
}

async function suiteFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await suiteFiles(path)));
    else if (SUITE_EXTENSIONS[extname(entry.name).toLowerCase()]) files.push(path);
  }
  return files;
}

/**
 * Loads a suite from a file, or from every `.yaml`, `.yml`, `.json` and `.jsonl` file under a
 * folder (in name order). The first file's `name` and `agent` stand for the folder.
 */
export async function loadSuite(path: string): Promise<Suite> {
  const info = await stat(path).catch(() => null);
  if (!info)
    throw new SuiteInvalidError({ file: path, line: 0, field: '', problem: 'no such file or folder' });
  const files = info.isDirectory() ? await suiteFiles(path) : [path];
  if (files.length === 0) {
    throw new SuiteInvalidError({ file: path, line: 0, field: '', problem: 'the folder has no suite files' });
  }
  const suites = await Promise.all(
    files.map(async (file) => parseSuite({ text: await readFile(file, 'utf8'), file })),
  );
  const first = suites.find((suite) => suite.name !== undefined || suite.agent !== undefined);
  const cases = suites.flatMap((suite) => suite.cases);
  checkUniqueIds(cases);
  return {
    ...(first?.name !== undefined ? { name: first.name } : {}),
    ...(first?.agent !== undefined ? { agent: first.agent } : {}),
    cases,
  };
}
