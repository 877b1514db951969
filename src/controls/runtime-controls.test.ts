import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { classifyGatewayError } from '../gateway/http/gateway-http-errors.js';
import { createKeelMetrics } from '../metrics/keel-metrics.js';
import { parseSpendBreakers } from './controls-config.js';
import { ALL_TENANTS } from './controls.js';
import { startRuntimeControls } from './runtime-controls.js';

let store: JournalStore;
let client: SqlClient;
beforeAll(async () => {
  ({ store, client } = await openStore({ dataDir: 'memory://' }));
});
afterAll(() => store.close());

describe('startRuntimeControls', () => {
  it('wires the controls, breakers, policy and gateway hooks of one process together', async () => {
    const metrics = createKeelMetrics({ processMetrics: false });
    const trips: string[] = [];
    const runtime = await startRuntimeControls({
      client,
      env: { KEEL_ENV: 'staging', KEEL_DISABLED_TOOLS: 'weather' },
      toolPolicy: { staging: { deny: ['send_email'] } },
      spendBreakers: parseSpendBreakers([{ scope: 'tenant', window: '1h', maxUsd: 1 }]),
      metrics,
      onTrip: (trip) => trips.push(trip.id),
    });
    try {
      expect(runtime.controls.toolDisabled({ tool: 'weather', agent: 'a', tenantId: 't' })?.source).toBe(
        'env',
      );
      expect(runtime.policy.name).toBe('controls');

      expect(runtime.gateway.isDeploymentDisabled('openai-eu')).toBe(false);
      await runtime.controls.set({
        tenantId: ALL_TENANTS,
        kind: 'deployment_disabled',
        target: 'openai-eu',
        actor: 'test',
      });
      expect(runtime.gateway.isDeploymentDisabled('openai-eu')).toBe(true);

      // Gateway spend outside runs feeds the tenant breaker (asynchronously, off the answer path).
      runtime.gateway.onSpend({ tenantId: 'acme', costUsd: 0.6 });
      runtime.gateway.onSpend({ tenantId: 'acme', costUsd: 0.6 });
      await vi.waitFor(() => expect(trips).toEqual(['acme']), { timeout: 5_000, interval: 10 });
      expect(runtime.controls.agentHold({ agent: 'any', tenantId: 'acme' })?.control.kind).toBe(
        'tenant_paused',
      );
      expect((await metrics.scrape()).text).toContain('keel_spend_breaker_trips_total{scope="tenant"} 1');
      // The paused tenant's gateway calls are refused before anything is reserved (409).
      const held = runtime.gateway.tenantHold('acme');
      expect(held?.code).toBe('tenant_paused');
      expect(classifyGatewayError(held)).toMatchObject({ status: 409, code: 'tenant_paused' });
      expect(runtime.gateway.tenantHold('other')).toBeUndefined();
    } finally {
      await runtime.close();
    }
  });
});
