/**
 * `keel`: what an agent's author imports: agents, tools, guards, models, config, and running
 * them (workers, `runAgent`, the store), with the governance that acts on runs (budgets,
 * controls, prompt registry) and the errors Keel throws. The gateway as a library is
 * `keel/gateway`, the HTTP API `keel/server`, fakes for tests `keel/testing`. Every export is
 * listed in docs/exports.md.
 */
export { z } from 'zod';

// Agents, tools and config
export {
  defineAgent,
  DEFAULT_LIMITS,
  type Agent,
  type AgentOptions,
  type AgentLimits,
} from './runtime/agent.js';
export {
  defineTool,
  type Tool,
  type ToolOptions,
  type ToolContext,
  type ToolEffect,
  type ApprovalPredicate,
  type ReconcileFunction,
  type ReconcileResult,
  type RejectionPolicy,
  type JsonSchemaObject,
  type ToolInputSchema,
  type ToolArgs,
} from './tools/tool.js';
export {
  fromAiSdkTool,
  type AiSdkTool,
  type AiSdkToolExecutionOptions,
  type FromAiSdkToolOptions,
} from './tools/ai-sdk-tool.js';
export {
  createEffectLedger,
  type EffectLedger,
  type EffectLedgerOptions,
  type EffectOutcome,
  type EffectRecord,
} from './tools/effect-ledger.js';
export { defineConfig, type KeelConfig } from './config/define-config.js';
export { loadConfig, findConfigPath, type LoadedConfig } from './config/load-config.js';

// Running agents
export { createWorker, DEFAULT_LEASE_MS, type Worker, type WorkerOptions } from './runtime/worker.js';
export { runAgent, waitForRun, type RunAgentOptions } from './runtime/run-agent.js';
export type {
  StepPolicy,
  PolicyRunContext,
  ModelStepContext,
  ModelCallContext,
  ToolCallContext,
  PolicyStop,
  PolicyApproval,
  ModelCallGrant,
  ToolCallVerdict,
} from './runtime/step-policy.js';
export type { RedactionRule, TenantRedaction } from './runtime/redaction.js';
export type { RunEvent, RunEventListener } from './runtime/run-events.js';
export { createOtelExport, type OtelExport, type OtelExportOptions } from './telemetry/otel-export.js';
export { readOtelConfig, type OtelConfig, type OtlpProtocol } from './telemetry/otel-config.js';
export type { RunTelemetry, RunReleaseReason } from './telemetry/run-telemetry.js';

// Storage
export { openStore, type OpenStoreOptions } from './journal/open-store.js';
export { createPgliteClient, type PgliteClientOptions } from './journal/pglite-client.js';
export { createPgClient, type PgClientOptions } from './journal/pg-client.js';
export type {
  SessionLockHold,
  SessionLockKey,
  SqlClient,
  SqlExecutor,
  SqlResult,
} from './journal/sql-client.js';
export type { JournalStore } from './journal/store.js';
export {
  TERMINAL_STATUSES,
  RUN_STATUSES,
  type ApprovalRecord,
  type ApprovalStatus,
  type ApprovalDecision,
  type RunRecord,
  type RunStatus,
  type StopReason,
  type StepRecord,
  type StepKind,
  type StepStatus,
  type NewRun,
  type RunFilter,
  type LivenessHold,
} from './journal/types.js';

// Models
export type {
  LanguageModel,
  ModelRequest,
  ModelResponse,
  ModelStreamEvent,
  ModelCallOptions,
  Message,
  ToolCall,
  ToolSpec,
  ToolChoice,
  ResponseFormat,
  Usage,
  FinishReason,
  ContentPart,
  TextPart,
  ImagePart,
  FilePart,
  MediaSource,
  ImageDetail,
  CacheControl,
  ReasoningOptions,
  ReasoningEffort,
  UnsupportedField,
  OpenAIPassthrough,
  OpenAIOutputItem,
} from './model/model.js';
export { contentText } from './model/content-parts.js';
export {
  createOpenAICompatibleModel,
  type OpenAICompatibleModelOptions,
} from './model/providers/openai/adapter.js';
export {
  createOpenAIResponsesModel,
  type OpenAIResponsesModelOptions,
} from './model/providers/openai/responses-adapter.js';
export {
  createScriptedModel,
  createRuleModel,
  createBuiltinModel,
  registerBuiltinModel,
  listBuiltinModels,
  type BuiltinModelOptions,
  type BuiltinReply,
  type BuiltinToolCall,
  type RuleToolResult,
  type ScriptedModel,
  type ScriptedModelOptions,
  type RuleModelOptions,
  type ModelRule,
  type RuleContext,
} from './model/builtin-model.js';
export { resolveModel, registerModelProvider, type ModelProviderFactory } from './model/resolve-model.js';
export { costOf, priceFor, PRICE_TABLE, PRICE_TABLE_VERSION, type ModelPrice } from './model/prices.js';

export { createAnthropicModel, type AnthropicModelOptions } from './model/providers/anthropic/adapter.js';
export { createGeminiModel, type GeminiModelOptions } from './model/providers/gemini/adapter.js';
export { createOpenAIEmbeddingModel } from './model/providers/openai/adapter.js';
export {
  fromAiSdk,
  type AiSdkLanguageModel,
  type AiSdkWarning,
  type FromAiSdkOptions,
} from './model/ai-sdk-bridge.js';
export type { EmbeddingModel } from './model/model.js';

export { submitSessionRun, type SessionPolicy, type SessionSubmission } from './runtime/session-policy.js';
export type { SessionRecord } from './journal/types.js';

// Guards
export {
  GUARD_STAGES,
  type Guard,
  type GuardContext,
  type GuardStage,
  type GuardVerdict,
} from './guards/guard.js';
export { defineGuard, type GuardOptions } from './guards/define-guard.js';
export { guards } from './guards/index.js';
export type { MaxLengthOptions } from './guards/max-length.js';
export type {
  PromptInjectionOptions,
  PromptInjectionGuard,
  PromptInjectionCounters,
} from './guards/prompt-injection.js';
export type { PiiGuardOptions } from './guards/pii-guard.js';
export type { JsonSchemaGuardOptions } from './guards/json-schema.js';
export { markAsData, unmarkData, type UntrustedToolOutputOptions } from './guards/untrusted-tool-output.js';
export type { GroundingOptions, GroundingJudgement } from './guards/grounding.js';
export { detectPii, redactPii, PII_ENTITIES, type PiiEntity, type PiiSpan } from './guards/pii.js';
export {
  detectInjection,
  type InjectionFinding,
  type InjectionFamily,
  type InjectionMode,
} from './guards/injection-heuristics.js';

// Prometheus metrics
export { createKeelMetrics, type KeelMetrics, type KeelMetricsOptions } from './metrics/keel-metrics.js';

// Errors
export {
  KeelError,
  isKeelError,
  serializeError,
  type Fault,
  type SerializedError,
} from './errors/keel-error.js';
export {
  ConfigError,
  UnknownAgentError,
  InvalidToolError,
  InvalidAgentError,
} from './errors/config-errors.js';
export {
  DatabaseUnavailableError,
  LeaseLostError,
  MigrationError,
  RunNotFoundError,
} from './errors/storage-errors.js';
export {
  ProviderError,
  UnsupportedFieldError,
  ModelOutputError,
  ModelTimeoutError,
  ModelConfigError,
  ModelAttemptsExhaustedError,
} from './errors/model-errors.js';
export { NondeterminismError, ToolError, RunCancelledError } from './errors/runtime-errors.js';
export { GuardBlockedError, GuardError } from './errors/guard-errors.js';
export {
  ApprovalNotFoundError,
  ApprovalNotPendingError,
  ApprovalRejectedError,
} from './errors/approval-errors.js';

// Budgets (docs/governance.md (Budgets))
export {
  createBudgetStore,
  type BudgetStore,
  type BudgetStoreOptions,
  type ReserveRequest,
  type BudgetReservation,
  type CallSpend,
  type PricedModel,
  type BudgetExtension,
} from './budgets/budget-store.js';
export { createBudgetPolicy, type BudgetPolicyOptions } from './budgets/budget-policy.js';
export type {
  Budget,
  BudgetAlert,
  BudgetDefinition,
  BudgetScope,
  BudgetSubject,
  BudgetUsage,
  BudgetWithUsage,
} from './budgets/budget-types.js';
export type { BudgetPeriod } from './budgets/budget-periods.js';
export type { BudgetConfig } from './budgets/declared-budgets.js';
export {
  BudgetExhaustedError,
  ModelPriceUnknownError,
  BudgetNotFoundError,
  BudgetConflictError,
  InvalidBudgetError,
  InvalidExtensionError,
  BudgetsUnavailableError,
  type ExhaustedBudget,
} from './errors/budget-errors.js';

// Utilities
export { createJsonLogger, silentLogger, type Logger } from './util/logger.js';
export type { Clock } from './util/clock.js';

// Governance: prompt registry, audit log (read side), user erasure
export {
  createPromptRegistry,
  type PromptRegistry,
  type PromptRegistryOptions,
  type PromptVersionRecord,
  type PromptVersionSummary,
  type PromptPin,
} from './prompts/prompt-registry.js';
export { resolvePromptVersion } from './runtime/resolve-prompt-version.js';
export { createPromptPolicy } from './runtime/prompt-policy.js';
export {
  PromptVersionNotFoundError,
  EmptyPromptError,
  PromptTooLargeError,
  PromptNotPinnedError,
  UserRunsLiveError,
} from './errors/governance-errors.js';
// Runtime controls: kill switches, pauses, spend breakers, tool policy (docs/governance.md (Runtime controls))
export {
  createControls,
  ALL_TENANTS,
  CONTROL_KINDS,
  type Controls,
  type ControlsOptions,
  type Control,
  type ControlKind,
  type ControlKey,
  type SetControl,
  type ClearControl,
  type AgentHold,
} from './controls/controls.js';
export {
  createControlPolicy,
  CONTROL_POLICY_NAME,
  type ControlPolicyOptions,
  type ToolRefusalCounter,
} from './controls/control-policy.js';
export {
  createSpendBreakers,
  type SpendBreakers,
  type SpendBreakersOptions,
  type BreakerTrip,
  type Spend,
} from './controls/spend-breaker.js';
export { createToolPolicy, type ToolPolicy } from './controls/tool-policy.js';
export {
  startRuntimeControls,
  type RuntimeControls,
  type RuntimeControlsOptions,
} from './controls/runtime-controls.js';
export type {
  ToolPolicyConfig,
  ToolPolicyRules,
  SpendBreakerInput,
  SpendBreakerRule,
} from './controls/controls-config.js';
export { AgentHeldError, InvalidControlError, ControlNotFoundError } from './controls/control-errors.js';

// Evals: suites, scorers, trial statistics (docs/evals.md (Suites and scorers))
export {
  parseSuite,
  loadSuite,
  type Suite,
  type SuiteFormat,
  type EvalCase,
  type SessionMessage,
} from './evals/suite.js';
export {
  defineScorer,
  createScorerContext,
  type Scorer,
  type ScorerOptions,
  type ScorerContext,
  type ScoreResult,
  type ScoredStep,
  type ScoredToolCall,
} from './evals/scorer.js';
export { SCORER_KINDS, type ScorerKind, type ScorerSpec } from './evals/scorer-spec.js';
export { createScorer, type ScorerRegistry, type ScorerSources } from './evals/scorers.js';
export { createLlmJudge, type LlmJudge, type LlmJudgeOptions, type LlmJudgeSpec } from './evals/llm-judge.js';
export { scoreCase, type CaseScore, type CaseVerdict, type ScorerOutcome } from './evals/score-case.js';
export { passAtK, passHatK, type TrialResults } from './evals/pass-at-k.js';
export {
  runEval,
  EVAL_TRIGGER,
  type RunEvalOptions,
  type EvalOutcome,
  type EvalRunSettings,
} from './evals/run-eval.js';
export type { ArgumentMatcher, ArgumentMatchers } from './evals/argument-matcher.js';
export type { TrajectoryMode, ExpectedToolCall } from './evals/trajectory.js';
export {
  SuiteInvalidError,
  ScorerInvalidError,
  InvalidTrialCountError,
  JudgeFailedError,
} from './errors/eval-errors.js';
export {
  captureCases,
  CaptureOptionsInvalidError,
  type CaptureCandidate,
  type CaptureOptions,
  type CaptureResult,
  type CaptureSource,
  type CapturedCase,
} from './evals/capture.js';
