/** What the Openai wire can honour of Keel's optional request fields (docs/gateway.md shows the tables). */
import type { ProviderCapabilities } from '../../provider-capabilities.js';

/** OpenAI chat completions (and compatible servers). */
export const OPENAI_CAPABILITIES: ProviderCapabilities = {
  label: 'OpenAI-compatible',
  reasoning: true,
  parallelToolCallsOff: true,
  cacheControl: true,
  image: { data: true, url: true, urlNeedsMediaType: false, detail: true },
  file: { data: true, url: false },
};
