export default { agent: [] };
