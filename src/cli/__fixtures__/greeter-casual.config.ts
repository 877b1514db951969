import { greeter, shortGreeting } from './greeter-agent.js';

export default { agents: [greeter('Greet the user casually.')], evals: { scorers: [shortGreeting] } };
