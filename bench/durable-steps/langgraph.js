// LangGraph JS side of the durable-step benchmark: a StateGraph with a `model` node (instant,
// returns a fixed tool call until the last call) and a `tool` node (no-op) looping N times,
// compiled with the Postgres checkpointer and invoked with durability 'sync' (each super-step's
// checkpoint is written before the next step starts).
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { END, MessagesAnnotation, START, StateGraph } from '@langchain/langgraph';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';

export const name = 'LangGraph JS (PostgresSaver, sync)';

export async function setup({ databaseUrl }) {
  const saver = PostgresSaver.fromConnString(databaseUrl);
  await saver.setup();

  const graph = new StateGraph(MessagesAnnotation)
    .addNode('model', (state, config) => {
      const calls = state.messages.filter((m) => AIMessage.isInstance(m)).length;
      const remaining = config.configurable.toolCalls - calls;
      return {
        messages: [
          remaining > 0
            ? new AIMessage({
                content: '',
                tool_calls: [{ id: `call_${remaining}`, name: 'noop', args: {} }],
              })
            : new AIMessage('done'),
        ],
      };
    })
    .addNode('tool', (state) => {
      const last = state.messages.at(-1);
      return {
        messages: last.tool_calls.map(
          (call) =>
            new ToolMessage({
              tool_call_id: call.id,
              name: call.name,
              content: JSON.stringify({ ok: true }),
            }),
        ),
      };
    })
    .addEdge(START, 'model')
    .addConditionalEdges('model', (state) => (state.messages.at(-1).tool_calls?.length ? 'tool' : END))
    .addEdge('tool', 'model')
    .compile({ checkpointer: saver });

  let seq = 0;
  return {
    async run(n) {
      const out = await graph.invoke(
        { messages: [new HumanMessage('go')] },
        {
          configurable: { thread_id: `steps-${process.pid}-${seq++}`, toolCalls: n },
          durability: 'sync',
          recursionLimit: 2 * n + 10,
        },
      );
      if (out.messages.at(-1).content !== 'done') throw new Error('unexpected LangGraph result');
    },
    async close() {
      await saver.end();
    },
  };
}
