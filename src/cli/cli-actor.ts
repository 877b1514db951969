import { userInfo } from 'node:os';

/**
 * Who a CLI command acts as, for the audit log: `cli:<user>` of the operating-system account
 * (`USER`/`USERNAME`, else the account's name). A command that goes through a running server
 * acts as that server's local admin key instead (`key:<id>`, recorded by the server).
 */
export function cliActor(env: NodeJS.ProcessEnv): string {
  const name = env.USER ?? env.USERNAME ?? safeUserName();
  return `cli:${name || 'unknown'}`;
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
