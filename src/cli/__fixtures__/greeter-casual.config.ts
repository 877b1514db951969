import { greeter } from './greeter-agent.js';

export default { agents: [greeter('Greet the user casually.')] };
