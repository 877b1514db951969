// LangGraph JS side of the storage benchmark: one thread holds the conversation; each turn is
// an invoke with the user message through a model node (asks for the `search` tool), a tool
// node and the model node again (the reply), checkpointed by PostgresSaver with durability
// 'sync', as a LangGraph agent with memory of the conversation runs.
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { END, MessagesAnnotation, START, StateGraph } from '@langchain/langgraph';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';

export const name = 'LangGraph JS (PostgresSaver)';

export async function setup({ databaseUrl, turns }) {
  const saver = PostgresSaver.fromConnString(databaseUrl);
  await saver.setup();
  let turn = 0;
  const graph = new StateGraph(MessagesAnnotation)
    .addNode('model', (state) => {
      const t = turns[turn];
      const last = state.messages.at(-1);
      return {
        messages: [
          HumanMessage.isInstance(last)
            ? new AIMessage({
                content: '',
                tool_calls: [{ id: `call_${turn}`, name: 'search', args: { query: t.query } }],
              })
            : new AIMessage(t.reply),
        ],
      };
    })
    .addNode('tool', (state) => {
      const call = state.messages.at(-1).tool_calls[0];
      return {
        messages: [
          new ToolMessage({ tool_call_id: call.id, name: call.name, content: turns[turn].toolResult }),
        ],
      };
    })
    .addEdge(START, 'model')
    .addConditionalEdges('model', (state) => (state.messages.at(-1).tool_calls?.length ? 'tool' : END))
    .addEdge('tool', 'model')
    .compile({ checkpointer: saver });

  const config = { configurable: { thread_id: 'conversation' }, durability: 'sync' };
  return {
    async runTurn(i) {
      turn = i;
      const out = await graph.invoke({ messages: [new HumanMessage(turns[i].user)] }, config);
      if (out.messages.length !== 4 * (i + 1))
        throw new Error(`unexpected history length ${out.messages.length}`);
    },
    async close() {
      await saver.end();
    },
  };
}
