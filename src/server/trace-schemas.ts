/**
 * The trace API's bodies as zod schemas (see schemas.ts for the run API's): tests check answers
 * against them, `/openapi.json` documents them. The shapes are built by run-trace.ts and
 * decision-envelope-view.ts.
 */
import { z } from 'zod';
import { runStatusSchema, stepResponse } from './schemas.js';

const traceExecution = z.object({
  attempt: z.number(),
  started_at: z.string(),
  end: z
    .enum(['abandoned', 'waited', 'released', 'completed', 'failed'])
    .nullable()
    .describe(
      '`abandoned`: a crash or lost lease mid-step; `waited`: released to wait for a provider; the current execution `completed`, `failed`, or null while it runs.',
    ),
});

export const traceStepResponse = z
  .object({
    seq: z.number(),
    parent_seq: z
      .number()
      .nullable()
      .describe(
        'The step this one belongs to: the model step that asked for a tool call or approval, the step a guard checked; null for model steps and input guards.',
      ),
    type: z
      .string()
      .describe('`llm` (a model step), `tool`, `approval`, `guard`; later `retrieval`, `agent`.'),
    name: z.string(),
    model: z.string().nullable().describe('`llm` steps: the model called.'),
    tokens_in: z.number().nullable(),
    tokens_out: z.number().nullable(),
    cost_usd: z.number().nullable(),
    latency_ms: z.number().nullable().describe('Of the current execution; null while it runs.'),
    ok: z.boolean().nullable().describe('Null while the step runs.'),
    error_code: z.string().nullable(),
    attempt: z.number().describe("The step's attempt number (a model step counts its model calls)."),
    execution: z.number().describe('1 + the earlier executions this one replaced (a crash, a wait).'),
    executions: z
      .array(traceExecution)
      .describe('Every execution, oldest first; the last is the current one.'),
    started_at: z.string(),
    verdict: z
      .object({
        stage: z.string().nullable(),
        action: z.string().nullable(),
        reason: z.string().nullable(),
      })
      .nullable()
      .describe(
        '`guard` steps: the stage, the action (allow, block, redact, warn, retry) and why; null for others.',
      ),
  })
  .meta({ id: 'TraceStep' });

export const traceResponse = z
  .object({
    trace_id: z.string().describe('The run id.'),
    user_id: z.string().nullable(),
    session_id: z.string().nullable(),
    agent: z.string(),
    model: z.string().nullable().describe("The model of the run's first model step."),
    prompt_version: z.string().nullable(),
    outcome: z.enum(['speculative', 'committed', 'rejected']),
    status: runStatusSchema,
    stop_reason: z.string().nullable(),
    total_tokens_in: z.number(),
    total_tokens_out: z.number(),
    total_cost_usd: z.number(),
    duration_ms: z.number().nullable().describe('From the first start to the end (to now while running).'),
    attempts: z.number(),
    version_changes: z
      .array(
        z.object({
          from: z.string(),
          to: z.string(),
          at_seq: z.number(),
          at: z.string(),
          instructions_changed: z.boolean(),
          tools_added: z.array(z.string()),
          tools_removed: z.array(z.string()),
          model_changed: z.object({ from: z.string(), to: z.string() }).nullable(),
        }),
      )
      .describe('Each resume of the run by another agent version (a deploy), oldest first.'),
    steps: z.array(traceStepResponse),
  })
  .meta({ id: 'Trace' });

export const decisionEnvelopeResponse = z
  .object({
    prompt_version: z.string().nullable(),
    provider: z.string().nullable(),
    model: z.string().nullable(),
    deployment: z
      .string()
      .nullable()
      .describe(
        "The gateway deployment that answered; null when the call did not go through Keel's gateway, or its response cache answered.",
      ),
    cached: z.boolean().describe("True when the gateway's response cache answered."),
    tools_offered: z.array(z.string()),
    tool_calls: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        arguments: z
          .unknown()
          .describe("The arguments as JSON (the model's text when it is not valid JSON)."),
      }),
    ),
    finish_reason: z.string().nullable(),
    stated_reason: z
      .string()
      .nullable()
      .describe('The text the model gave alongside its tool calls, if any.'),
    guards: z
      .array(
        z.object({
          seq: z.number().int().describe('The `guard` step.'),
          guard: z.string(),
          stage: z.string().nullable().describe('input, tool_args, tool_output or output.'),
          action: z.string().nullable().describe('allow, block, redact, warn or retry.'),
          reason: z.string().nullable(),
          guarded_seq: z.number().int().nullable().describe('The step the guard checked.'),
          latency_ms: z.number().nullable(),
        }),
      )
      .describe("Verdicts of the guards on this decision: its answer, its calls' arguments and outputs."),
    retrieved_context_ids: z.array(z.string()).describe('Retrieved context (empty until retrieval exists).'),
  })
  .meta({ id: 'DecisionEnvelope' });

export const stepDetailResponse = stepResponse
  .omit({ output: true })
  .extend({
    envelope: decisionEnvelopeResponse
      .nullable()
      .describe('Model steps: what was decided and why; null otherwise.'),
    payload: z
      .unknown()
      .optional()
      .describe("The step's output payload: only for keys with `runs:read_payloads` or `admin`."),
  })
  .meta({ id: 'StepDetail' });
