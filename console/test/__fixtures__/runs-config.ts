/**
 * The console's run tests serve the travel planner and one more agent, `expense-approver`, whose
 * only tool needs a person's approval: its runs wait (`awaiting_approval`), so the Run detail
 * page can be seen live and a run can be cancelled from it; and `slow-planner`, the travel planner's
 * offline model taking 3 s a call, so the page can be seen streaming a run's text.
 */
import { createRuleModel, defineAgent, defineConfig, defineTool, z } from 'keel';
import { travelPlanner } from '../../../examples/travel-planner/agent.js';
import { createTravelPlannerModel } from '../../../examples/travel-planner/offline-model.js';
import { travelTools } from '../../../examples/travel-planner/tools.js';

const pay = defineTool({
  name: 'pay',
  description: 'Pays an expense; a person approves every payment.',
  input: z.object({ amount: z.number() }),
  effect: 'write',
  needsApproval: true,
  run: async ({ amount }) => ({ paid: amount }),
});

const expenseApprover = defineAgent({
  name: 'expense-approver',
  instructions: 'Pay the expense asked for, then confirm it.',
  model: createRuleModel({
    modelId: 'expense-rules',
    rules: [
      {
        name: 'confirm',
        when: (context) => context.toolResults.pay !== undefined,
        reply: (context) => `Paid: ${context.toolResults.pay?.content ?? ''}`,
      },
      {
        name: 'pay',
        when: () => true,
        reply: () => ({ toolCalls: [{ name: 'pay', arguments: { amount: 42 } }] }),
      },
    ],
  }),
  tools: [pay],
});

const slowPlanner = defineAgent({
  name: 'slow-planner',
  instructions: 'Plan the trip asked for.',
  model: createTravelPlannerModel({ latencyMs: 3_000 }),
  tools: travelTools,
});

export default defineConfig({ agents: [travelPlanner, expenseApprover, slowPlanner] });
