/** The gateway echo agent with other instructions: its replay diverges at the model step. */
import { defineAgent, defineConfig } from 'keel';
import { gateway, gatewayEcho } from './gateway-echo.config.js';

export default defineConfig({
  agents: [defineAgent({ ...gatewayEcho, instructions: 'Repeat the user, word for word.' })],
  gateway,
});
