/**
 * The tools of a Responses request as the gateway offers them upstream, and the calls coming back
 * as the caller declared them (docs/decisions/2026-12-06-codex-tools.md).
 *
 * - `function` tools pass as they are.
 * - `custom` tools (free-form input, optionally constrained by a grammar: Codex's `apply_patch`)
 *   have no counterpart on chat completions or Anthropic Messages that every upstream speaks, so
 *   each becomes a function tool with one string parameter, `input`, its grammar written into the
 *   description. A call of it comes back as a `custom_tool_call` whose `input` is that string.
 * - `namespace` tools (a named group, at the top level or inside an `additional_tools` input item,
 *   as Codex sends its tools by default) are flattened: each child becomes a tool named
 *   `<namespace>__<name>` (or `<namespace><name>` when the namespace already ends in `_`), and a
 *   call comes back with the child's `name` and its `namespace`. Every upstream name maps back to
 *   exactly one declared tool: two declarations that would meet on one name are a 400.
 * - Hosted tools, which only OpenAI's own Responses service runs ({@link RESPONSES_HOSTED_TOOLS}:
 *   `web_search`, `tool_search`, `file_search`...), are passed as declared to deployments that speak the Responses API
 *   (`api: 'responses'`). Elsewhere, those of {@link RESPONSES_TOOLS_DROPPED} are dropped (Codex
 *   declares them by default, and refusing them would leave it unusable on other providers) and
 *   any other refuses the deployment: the route's Responses deployment serves the request, and
 *   without one the answer is a 400 naming the tool (`unsupported_tool`).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { parseJsonOrText } from '../../model/json.js';
import type { ToolCall, ToolSpec } from '../../model/model.js';
import { invalidRequest } from './gateway-http-errors.js';
import { parseBodyPart } from './parse-request-body.js';

/** A tool as the caller declared it, for a call of it to come back in its terms. */
export interface DeclaredTool {
  kind: 'function' | 'custom';
  /** The name inside its namespace (or the tool's name). */
  name: string;
  namespace?: string;
}

/** Each upstream tool name, and the declared tool it stands for. */
export type ResponsesToolNames = ReadonlyMap<string, DeclaredTool>;

/** A hosted tool type the gateway drops from the upstream request, and why (docs/gateway.md). */
export interface ToolDropped {
  type: string;
  reason: string;
}

/**
 * Hosted tools dropped rather than refused by deployments that cannot run them: the Codex CLI
 * declares them in its default mode and works without them, the model simply has no web search
 * (or sees deferred tools up front). Responses deployments get them as declared.
 */
export const RESPONSES_TOOLS_DROPPED: readonly ToolDropped[] = [
  {
    type: 'web_search',
    reason:
      'OpenAI runs web search inside its Responses service; other upstreams cannot, so the model gets no web search tool.',
  },
  { type: 'web_search_preview', reason: 'as web_search.' },
  {
    type: 'tool_search',
    reason:
      "OpenAI's tool search loads deferred tools on demand; the gateway offers every declared tool (deferred ones included) to the upstream at once instead.",
  },
];

/**
 * The hosted tools carried to Responses deployments: those OpenAI runs to the end itself, whose
 * call items (`web_search_call`...) the caller can hand back. Tools whose calls the client runs
 * (`local_shell`, `computer_use_preview`, `apply_patch`, `shell`) or answers (`mcp` approvals)
 * would come back as items no provider-neutral turn can carry: refused.
 */
export const RESPONSES_HOSTED_TOOLS: readonly string[] = [
  'web_search',
  'web_search_preview',
  'tool_search',
  'file_search',
  'code_interpreter',
  'image_generation',
];

/** A tool name both chat completions and Anthropic accept: at most 64 of `[a-zA-Z0-9_-]`. */
const MAX_NAME_LENGTH = 64;

const functionTool = z.object({
  type: z.literal('function'),
  name: z.string().min(1),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
  // OpenAI's tool search: a deferred tool is loaded when searched for; here it is offered at once.
  defer_loading: z.boolean().nullish(),
});

const customTool = z.object({
  type: z.literal('custom'),
  name: z.string().min(1),
  description: z.string().nullish(),
  format: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('text') }),
      z.object({
        type: z.literal('grammar'),
        syntax: z.enum(['lark', 'regex']),
        definition: z.string().min(1),
      }),
    ])
    .nullish(),
  defer_loading: z.boolean().nullish(),
});

const namespaceTool = z.object({
  type: z.literal('namespace'),
  name: z.string().min(1),
  description: z.string().nullish(),
  tools: z.array(z.unknown()),
});

/** The JSON schema of a custom tool as a function: its whole input is the string `input`. */
export const CUSTOM_TOOL_PARAMETERS = {
  type: 'object',
  properties: {
    input: { type: 'string', description: 'The whole free-form input of the tool, as raw text (not JSON).' },
  },
  required: ['input'],
  additionalProperties: false,
} as const;

function customDescription(tool: z.infer<typeof customTool>): string {
  const description = tool.description ?? '';
  const format = tool.format;
  const rule =
    format == null || format.type === 'text'
      ? 'Put the whole free-form input of this tool, as raw text, in the string parameter "input".'
      : `Put the whole free-form input of this tool, as raw text, in the string parameter "input". The input must match this ${format.syntax === 'lark' ? 'Lark grammar' : 'regular expression'}:\n${format.definition}`;
  return description === '' ? rule : `${description}\n\n${rule}`;
}

/** The upstream name of a namespace's child: `ns__child`, or `ns_child` when `ns` ends in `_`. */
export function flatToolName(name: string, namespace?: string): string {
  if (namespace === undefined) return name;
  const joined = namespace.endsWith('_') ? `${namespace}${name}` : `${namespace}__${name}`;
  if (joined.length <= MAX_NAME_LENGTH && /^[a-zA-Z0-9_-]+$/.test(joined)) return joined;
  // Too long or with characters upstreams refuse: a readable head and a hash of the whole.
  const hash = createHash('sha256').update(joined).digest('hex').slice(0, 10);
  const head = joined.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, MAX_NAME_LENGTH - hash.length - 1);
  return `${head}_${hash}`;
}

/** Collects a request's tools, upstream names checked for collisions. */
export interface ToolCollector {
  /** Adds a `tools` array (the request's or an `additional_tools` item's); `param` names it. */
  add(tools: readonly unknown[], param: string): void;
  specs: ToolSpec[];
  names: ResponsesToolNames;
  /** The hosted tools as declared, `optional` for those other deployments drop. */
  hosted: { tool: Record<string, unknown>; optional: boolean }[];
}

/** A hosted tool: any tool object with a `type` other than the ones translated above. */
const hostedTool = z.looseObject({ type: z.string().min(1) });

export function createToolCollector(): ToolCollector {
  const specs: ToolSpec[] = [];
  const hosted: ToolCollector['hosted'] = [];
  const names = new Map<string, DeclaredTool>();
  const declare = (spec: ToolSpec, declared: DeclaredTool, param: string) => {
    if (names.has(spec.name))
      throw invalidRequest(
        `${param}.name: a tool named ${JSON.stringify(spec.name)} is already declared${declared.namespace === undefined ? '' : ` (namespace ${JSON.stringify(declared.namespace)}, tool ${JSON.stringify(declared.name)}, flattened for the upstream)`}; tool names must be unique.`,
        `${param}.name`,
        'duplicate_tool',
      );
    names.set(spec.name, declared);
    specs.push(spec);
  };
  const addOne = (raw: unknown, param: string, namespace?: string) => {
    const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
    if (type === 'function') {
      const tool = parseBodyPart(functionTool, raw, param);
      declare(
        {
          name: flatToolName(tool.name, namespace),
          description: tool.description ?? '',
          parameters: tool.parameters ?? { type: 'object', properties: {} },
          ...(tool.strict == null ? {} : { strict: tool.strict }),
        },
        { kind: 'function', name: tool.name, ...(namespace === undefined ? {} : { namespace }) },
        param,
      );
    } else if (type === 'custom') {
      const tool = parseBodyPart(customTool, raw, param);
      declare(
        {
          name: flatToolName(tool.name, namespace),
          description: customDescription(tool),
          parameters: { ...CUSTOM_TOOL_PARAMETERS },
        },
        { kind: 'custom', name: tool.name, ...(namespace === undefined ? {} : { namespace }) },
        param,
      );
    } else if (type === 'namespace' && namespace === undefined) {
      const group = parseBodyPart(namespaceTool, raw, param);
      for (const [index, child] of group.tools.entries())
        addOne(child, `${param}.tools.${index}`, group.name);
    } else if (namespace === undefined && RESPONSES_HOSTED_TOOLS.includes(type as string)) {
      const tool = parseBodyPart(hostedTool, raw, param);
      hosted.push({ tool, optional: RESPONSES_TOOLS_DROPPED.some((dropped) => dropped.type === type) });
    } else
      throw invalidRequest(
        `${param}.type: tools of type ${JSON.stringify(type)} are not supported${namespace === undefined ? '' : ' inside a namespace'}; send function, custom or namespace tools, or at the top level the hosted tools ${RESPONSES_HOSTED_TOOLS.join(', ')} (docs/gateway.md).`,
        `${param}.type`,
        'unsupported_tool',
      );
  };
  return {
    add(tools, param) {
      for (const [index, raw] of tools.entries()) addOne(raw, `${param}.${index}`);
    },
    specs,
    names,
    hosted,
  };
}

/**
 * A tool call of the upstream in the caller's terms: the declared tool's kind, name and
 * namespace, and for a custom tool its free-form `input`. A name the request did not declare
 * (an upstream inventing one) comes back as a function call under that name.
 */
export function declaredCall(
  call: ToolCall,
  names: ResponsesToolNames,
): { kind: 'function' | 'custom'; name: string; namespace?: string; input: string } {
  const declared = names.get(call.name);
  if (declared === undefined) return { kind: 'function', name: call.name, input: call.arguments };
  const where = declared.namespace === undefined ? {} : { namespace: declared.namespace };
  if (declared.kind === 'function')
    return { kind: 'function', name: declared.name, ...where, input: call.arguments };
  return { kind: 'custom', name: declared.name, ...where, input: customInputOf(call.arguments) };
}

/** The `input` string of a custom tool's function arguments; arguments of another shape as they came. */
export function customInputOf(argumentsText: string): string {
  const parsed = customArguments.safeParse(parseJsonOrText(argumentsText));
  return parsed.success ? parsed.data.input : argumentsText;
}

const customArguments = z.object({ input: z.string() });

/** A custom tool's input as the function arguments the upstream sees. */
export function customArgumentsOf(input: string): string {
  return JSON.stringify({ input });
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' };

/**
 * Streams a custom tool's input out of its function arguments as they arrive
 * (`{"input":"*** Begin Patch\n...`): each call takes the next arguments fragment and returns the
 * input text decoded so far and not yet returned. An escape cut between fragments waits for the
 * next one; arguments of another shape return nothing (the whole input then comes at the end).
 */
export function createCustomInputStream(): (argumentsDelta: string) => string {
  let buffer = '';
  let position = -1;
  let ended = false;
  return (argumentsDelta) => {
    buffer += argumentsDelta;
    if (position === -1) {
      const start = /^\s*\{\s*"input"\s*:\s*"/.exec(buffer);
      if (start === null) return '';
      position = start[0].length;
    }
    let out = '';
    while (!ended && position < buffer.length) {
      const char = buffer[position] ?? '';
      if (char === '"') ended = true;
      else if (char !== '\\') {
        out += char;
        position += 1;
      } else {
        const code = buffer[position + 1];
        if (code === undefined) break;
        if (code !== 'u') {
          out += ESCAPES[code] ?? code;
          position += 2;
          continue;
        }
        const unit = Number.parseInt(buffer.slice(position + 2, position + 6), 16);
        // A high surrogate is decoded with its low half, never sent alone.
        const width = unit >= 0xd800 && unit <= 0xdbff ? 12 : 6;
        if (position + width > buffer.length) break;
        const units = [unit];
        if (width === 12) units.push(Number.parseInt(buffer.slice(position + 8, position + 12), 16));
        out += String.fromCharCode(...units);
        position += width;
      }
    }
    return out;
  };
}
