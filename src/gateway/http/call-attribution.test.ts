import { expect, it } from 'vitest';
import { anthropicUserIdOf, attributeCall } from './call-attribution.js';

const DEVICE = 'a3f1c2d4e5b6a7980123456789abcdef0123456789abcdef0123456789abcdef';
const ACCOUNT = '7d9c1e2f-3a4b-4c5d-8e6f-0a1b2c3d4e5f';
const SESSION = '2b8e4f6a-1c3d-4e5f-9a7b-8c9d0e1f2a3b';

it("reads Claude Code's metadata.user_id (JSON): the account, else the device, and the session", () => {
  const json = (fields: Record<string, string>) => ({ anthropicUserId: JSON.stringify(fields) });
  expect(attributeCall({}, json({ device_id: DEVICE, account_uuid: '', session_id: SESSION }))).toEqual({
    userId: DEVICE,
    sessionId: SESSION,
  });
  expect(attributeCall({}, json({ device_id: DEVICE, account_uuid: ACCOUNT, session_id: SESSION }))).toEqual({
    userId: ACCOUNT,
    sessionId: SESSION,
  });
});

it('reads the older user_<hash>_account_<uuid>_session_<uuid> form the same way', () => {
  expect(attributeCall({}, { anthropicUserId: `user_${DEVICE}_account__session_${SESSION}` })).toEqual({
    userId: DEVICE,
    sessionId: SESSION,
  });
  expect(
    attributeCall({}, { anthropicUserId: `user_${DEVICE}_account_${ACCOUNT}_session_${SESSION}` }),
  ).toEqual({ userId: ACCOUNT, sessionId: SESSION });
});

it("takes any other metadata.user_id as the user id, as Anthropic's API documents it", () => {
  expect(attributeCall({}, { anthropicUserId: 'ada@example.com' })).toEqual({ userId: 'ada@example.com' });
  // JSON that is not Claude Code's is an opaque id too.
  expect(attributeCall({}, { anthropicUserId: '{"team":"a"}' })).toEqual({ userId: '{"team":"a"}' });
});

it('puts x-keel-user and x-keel-session first, then the clients own headers, then the body', () => {
  const body = {
    anthropicUserId: JSON.stringify({ device_id: DEVICE, account_uuid: '', session_id: SESSION }),
  };
  expect(attributeCall({ 'x-claude-code-session-id': 'cc-session' }, body)).toEqual({
    userId: DEVICE,
    sessionId: 'cc-session',
  });
  expect(
    attributeCall(
      { 'x-keel-user': ' ada ', 'x-keel-session': 'ticket-42', 'x-claude-code-session-id': 'cc-session' },
      body,
    ),
  ).toEqual({ userId: 'ada', sessionId: 'ticket-42' });
  // Codex names its conversation in a session-id header (session_id before); OpenAI's user field names the user.
  expect(attributeCall({ 'session-id': SESSION }, { user: 'bo' })).toEqual({
    userId: 'bo',
    sessionId: SESSION,
  });
  expect(attributeCall({ session_id: SESSION }, { user: 'bo' })).toEqual({
    userId: 'bo',
    sessionId: SESSION,
  });
  expect(attributeCall({ 'x-keel-user': 'ada' }, { user: 'bo' })).toEqual({ userId: 'ada' });
  // Empty explicit headers name nothing.
  expect(attributeCall({ 'x-keel-user': '', 'x-keel-session': ' ' }, { user: 'bo' })).toEqual({
    userId: 'bo',
  });
  expect(attributeCall({})).toEqual({});
});

it("reads Codex's turn metadata last: its installation as the user, its session", () => {
  const installation = '9d7e975e-691f-4582-a4e3-d2f6df64b213';
  const thread = '01a24c19-3847-7b20-8a1d-a8865ef1c525';
  const metadata = JSON.stringify({ installation_id: installation, session_id: thread, turn_id: 'x' });
  expect(attributeCall({ 'x-codex-turn-metadata': metadata })).toEqual({
    userId: installation,
    sessionId: thread,
  });
  expect(
    attributeCall({ 'x-codex-turn-metadata': metadata, 'session-id': 'other', 'x-keel-user': 'bo' }),
  ).toEqual({ userId: 'bo', sessionId: 'other' });
  // Not JSON, or too large: nothing from it.
  expect(attributeCall({ 'x-codex-turn-metadata': 'not json' })).toEqual({});
  expect(
    attributeCall({
      'x-codex-turn-metadata': JSON.stringify({ installation_id: 'i', pad: 'x'.repeat(9000) }),
    }),
  ).toEqual({});
});

it('refuses a malformed x-keel-user or x-keel-session; ignores a client field that is no id', () => {
  for (const [name, value] of [
    ['x-keel-user', 'ada lovelace'],
    ['x-keel-session', 'x'.repeat(201)],
    ['x-keel-user', 'tab\there'],
  ] as const)
    expect(() => attributeCall({ [name]: value })).toThrow(
      expect.objectContaining({ code: 'invalid_request', status: 400, param: name }) as Error,
    );
  expect(attributeCall({ session_id: 'a b' }, { user: 'x'.repeat(201), anthropicUserId: 'ok' })).toEqual({
    userId: 'ok',
  });
});

it('finds metadata.user_id in a Messages body, and nothing in one without it', () => {
  expect(anthropicUserIdOf({ metadata: { user_id: 'u' } })).toBe('u');
  expect(anthropicUserIdOf({ metadata: {} })).toBeUndefined();
  expect(anthropicUserIdOf({ metadata: null })).toBeUndefined();
  expect(anthropicUserIdOf(undefined)).toBeUndefined();
});
