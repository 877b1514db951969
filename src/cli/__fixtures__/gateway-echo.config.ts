/**
 * An echo agent whose model is a route of the config's gateway (`gateway:local`, the built-in
 * echo model behind it): `keel run` and a live replay resolve it only through the gateway.
 */
import { defineAgent, defineConfig } from 'keel';

export const gatewayEcho = defineAgent({
  name: 'gateway-echo',
  instructions: 'Repeat the user.',
  model: 'gateway:local',
});

export const gateway = {
  deployments: [{ name: 'echo', provider: 'builtin', model: 'echo' }],
  routes: [{ name: 'local', deployments: ['echo'] }],
};

export default defineConfig({ agents: [gatewayEcho], gateway });
