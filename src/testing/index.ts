/**
 * `keel/testing`: fakes of Keel's interfaces for your tests. Every fake records the calls it
 * received; none patches globals.
 */
export {
  createScriptedModel,
  createRuleModel,
  type ScriptedModel,
  type ScriptedModelOptions,
} from '../model/builtin-model.js';
export {
  createFakeOpenAIServer,
  type FakeOpenAIServer,
  type FakeOpenAIServerOptions,
  type FakeOpenAIReply,
  type FakeOpenAIRequest,
  type FakeReasoningItem,
  type FakeFailedReply,
} from './fake-openai-server.js';
export { createMemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { createFakeClock, type FakeClock } from './fake-clock.js';
export type { IdGenerator } from '../util/ids.js';
export { createFakeAnthropicServer } from './fake-anthropic-server.js';
export { createFakeGeminiServer } from './fake-gemini-server.js';
export { createTcpProxy, type TcpProxy, type TcpProxyMode, type TcpProxyOptions } from './tcp-proxy.js';
export { CASSETTE_VERSION, parseCassette, type Cassette, type CassetteStep } from '../cassettes/cassette.js';
export { readCassette } from '../cassettes/cassette-store.js';
export {
  replayCassette,
  type Divergence,
  type ReplayResult,
  type ReplayStepView,
} from '../cassettes/replay-cassette.js';
export {
  scriptedModelFromCassette,
  type ScriptedModelFromCassetteOptions,
} from './scripted-model-from-cassette.js';
export {
  simulateTools,
  type SimulateToolsOptions,
  type SimulatedAgent,
  type SimulatedToolCall,
  type ToolSimulation,
} from '../evals/simulate-tools.js';
