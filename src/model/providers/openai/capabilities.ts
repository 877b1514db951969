/** What the Openai wire can honour of Keel's optional request fields (docs/gateway.md shows the tables). */
import type { ProviderCapabilities } from '../../provider-capabilities.js';

/** OpenAI chat completions (and compatible servers). */
export const OPENAI_CAPABILITIES: ProviderCapabilities = {
  label: 'OpenAI-compatible',
  reasoning: true,
  parallelToolCallsOff: true,
  cacheControl: true,
  image: { data: true, url: true, urlNeedsMediaType: false, detail: true },
  // Chat completions take PDFs as file_data; other documents come back as a 400 after sending.
  file: { data: true, url: false, mediaTypes: ['application/pdf'] },
};

/**
 * OpenAI's Responses API: files by URL (`file_url`) as well as inline, any media type OpenAI
 * reads; hosted tools run; no `stop` and no `seed` on this API.
 */
export const OPENAI_RESPONSES_CAPABILITIES: ProviderCapabilities = {
  label: 'OpenAI Responses',
  reasoning: true,
  parallelToolCallsOff: true,
  cacheControl: true,
  stop: false,
  seed: false,
  hostedTools: true,
  image: { data: true, url: true, urlNeedsMediaType: false, detail: true },
  file: { data: true, url: true },
};
