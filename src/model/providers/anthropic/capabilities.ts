/** What the Anthropic wire can honour of Keel's optional request fields (docs/gateway.md shows the tables). */
import type { ProviderCapabilities } from '../../provider-capabilities.js';

/** Anthropic Messages. */
export const ANTHROPIC_CAPABILITIES: ProviderCapabilities = {
  label: 'Anthropic',
  reasoning: true,
  parallelToolCallsOff: true,
  cacheControl: true,
  image: { data: true, url: true, urlNeedsMediaType: false, detail: false },
  file: {
    data: true,
    url: true,
    mediaTypes: ['application/pdf', 'text/plain'],
    urlMediaTypes: ['application/pdf'],
  },
};
