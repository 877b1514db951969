/* eslint-disable no-control-regex -- the terminal escape sequences are what these tests check */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLiveRun, formatCost, formatElapsed } from './live-run.js';

/** A terminal (or not) that records what was written where, in order. */
function terminal({ tty = true, env = {} }: { tty?: boolean; env?: Record<string, string> } = {}) {
  const writes: { to: 'out' | 'err'; text: string }[] = [];
  return {
    writes,
    out: () =>
      writes
        .filter((write) => write.to === 'out')
        .map((write) => write.text)
        .join(''),
    err: () =>
      writes
        .filter((write) => write.to === 'err')
        .map((write) => write.text)
        .join(''),
    io: {
      stdout: { isTTY: tty, write: (text: string) => writes.push({ to: 'out', text }) },
      stderr: { isTTY: tty, write: (text: string) => writes.push({ to: 'err', text }) },
      env: { TERM: 'xterm', ...env },
    },
  };
}

const modelEnd = (seq: number, costUsd: number) =>
  ({
    type: 'step-end',
    seq,
    kind: 'model',
    name: 'gpt',
    status: 'completed',
    durationMs: 5,
    costUsd,
  }) as const;

afterEach(() => vi.useRealTimers());

describe('live output of keel run', () => {
  it('streams text on a terminal, spins with elapsed time and cost between steps, and does not repeat the answer', () => {
    vi.useFakeTimers();
    let now = 0;
    const screen = terminal();
    const live = createLiveRun({ io: screen.io, json: false, now: () => now });
    expect(live.streamsText).toBe(true);
    live.event({ type: 'step-start', seq: 0, kind: 'model', name: 'gpt' });
    live.event(modelEnd(0, 0.0021));
    live.event({ type: 'step-start', seq: 1, kind: 'tool', name: 'lookup' });
    now = 1500;
    vi.advanceTimersByTime(100);
    expect(screen.err()).toMatch(/\r\x1b\[2K\x1b\[2m[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] tool lookup · 1\.5s · \$0\.0021\x1b\[22m$/);
    live.event({
      type: 'step-end',
      seq: 1,
      kind: 'tool',
      name: 'lookup',
      status: 'completed',
      durationMs: 3,
      costUsd: null,
    });
    live.event({ type: 'text', seq: 2, execution: 1, text: 'Hel' });
    // While a text line is open the spinner is not drawn (it would overwrite the text).
    const before = screen.writes.length;
    vi.advanceTimersByTime(500);
    expect(screen.writes.length).toBe(before);
    live.event({ type: 'text', seq: 2, execution: 1, text: 'lo' });
    live.event(modelEnd(2, 0.001));
    live.finish('Hello');
    expect(screen.out()).toBe('Hello\n');
    expect(screen.err()).toContain('✓ tool  lookup');
    expect(screen.err().endsWith('\r\x1b[2K')).toBe(true);
  });

  it('shows a retried call on a new line and prints structured output the text did not show', () => {
    const screen = terminal();
    const live = createLiveRun({ io: screen.io, json: false });
    live.event({ type: 'text', seq: 0, execution: 1, text: 'first try' });
    live.event({ type: 'text', seq: 0, execution: 2, text: '{"a": 1}' });
    live.finish({ a: 1 });
    expect(screen.out()).toBe('first try\n{"a": 1}\n');
    const other = terminal();
    const again = createLiveRun({ io: other.io, json: false });
    again.event({ type: 'text', seq: 0, execution: 1, text: 'thinking aloud' });
    again.finish({ b: 2 });
    expect(other.out()).toBe('thinking aloud\n{\n  "b": 2\n}\n');
    live.stop();
    again.stop();
  });

  it('uses no colour with NO_COLOR, and nothing live off a terminal or with --json', () => {
    vi.useFakeTimers();
    const plain = terminal({ env: { NO_COLOR: '1' } });
    const live = createLiveRun({ io: plain.io, json: false });
    vi.advanceTimersByTime(250);
    live.finish('done');
    expect(plain.err()).toMatch(/\r\x1b\[2K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] starting/);
    expect(plain.err()).not.toMatch(/\x1b\[\d+m/);

    for (const [screen, json] of [
      [terminal({ tty: false }), false],
      [terminal(), true],
    ] as const) {
      const quiet = createLiveRun({ io: screen.io, json });
      expect(quiet.streamsText).toBe(false);
      quiet.event({ type: 'text', seq: 0, execution: 1, text: 'Hel' });
      vi.advanceTimersByTime(500);
      quiet.finish('Hello');
      // The output once, at the end; no escape sequence anywhere.
      expect(screen.out()).toBe('Hello\n');
      expect(screen.writes.map((write) => write.text).join('')).not.toContain('\x1b');
    }
  });

  it('writes no escape sequence from the model, a tool or an error to a terminal', () => {
    const screen = terminal({ env: { NO_COLOR: '1' } });
    const live = createLiveRun({ io: screen.io, json: false });
    // Clear the screen, move the cursor up, write the clipboard (OSC 52), a bare BEL and C1 CSI.
    live.event({
      type: 'text',
      seq: 0,
      execution: 1,
      text: 'ok\x1b[2J\x1b[1A\x1b]52;c;cm0gLXJm\x07 \x07\x9b31m',
    });
    // A sequence split across two deltas loses its ESC, so what is left is inert text.
    live.event({ type: 'text', seq: 0, execution: 1, text: '\x1b' });
    live.event({ type: 'text', seq: 0, execution: 1, text: '[2Kdone' });
    live.event({
      type: 'step-end',
      seq: 1,
      kind: 'tool',
      name: 'fetch',
      status: 'failed',
      durationMs: 1,
      costUsd: null,
      error: { code: 'tool_failed', message: 'boom\x1b]0;pwned\x07' },
    });
    live.note('approval needed: \x1b[8mhidden\x1b[28m\n');
    live.finish({ answer: 'x\u001b[31m' });
    const written = screen.writes.map((write) => write.text).join('');
    // The only escapes left are the spinner's own line clears.
    expect(written.replaceAll('\r\x1b[2K', '')).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(screen.out()).toContain('ok 31m[2Kdone');
    expect(screen.err()).toContain('tool_failed: boom');
    expect(screen.err()).toContain('approval needed: hidden');
    live.stop();
  });

  it('leaves text as it is off a terminal', () => {
    const screen = terminal({ tty: false });
    const live = createLiveRun({ io: screen.io, json: false });
    live.finish('a\x1b[1mb');
    expect(screen.out()).toBe('a\x1b[1mb\n');
  });

  it('formats elapsed time and cost', () => {
    expect(formatElapsed(4230)).toBe('4.2s');
    expect(formatElapsed(65_000)).toBe('1m05s');
    expect(formatCost(0)).toBe('$0.0000');
    expect(formatCost(0.00021)).toBe('$0.0002');
    expect(formatCost(0.000034)).toBe('$0.000034');
  });
});
