import { greeter, shortGreeting } from './greeter-agent.js';

export default { agents: [greeter('Greet the user politely.')], evals: { scorers: [shortGreeting] } };
