export default { agents: [ this is not typescript
