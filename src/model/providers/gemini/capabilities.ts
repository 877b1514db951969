/** What the Gemini wire can honour of Keel's optional request fields (docs/gateway.md shows the tables). */
import type { ProviderCapabilities } from '../../provider-capabilities.js';

/** Gemini generateContent. */
export const GEMINI_CAPABILITIES: ProviderCapabilities = {
  label: 'Gemini',
  reasoning: true,
  parallelToolCallsOff: false,
  cacheControl: true,
  image: { data: true, url: true, urlNeedsMediaType: true, detail: false },
  file: { data: true, url: true },
};
