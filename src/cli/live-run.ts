/**
 * What `keel run` shows while a run goes on, whether it runs in this process or is followed over
 * a server's event stream: the model's text as it streams (stdout, on a terminal), a spinner line
 * with the elapsed time and the cost so far (stderr, updated in place and cleared before anything
 * else is written), and one-line notes for tool calls and other steps.
 *
 * On stdout that is not a terminal, or with `--json`, nothing is shown live and the output is
 * printed whole at the end; the spinner also needs stderr to be a terminal (and `TERM` not
 * `dumb`). `NO_COLOR` (set and not empty) turns colours off; the spinner stays, as it uses only
 * carriage returns and line erasing.
 */
import type { CliIo } from './cli-io.js';
import { renderOutput, terminalSafe } from './render.js';

/** A run's progress in one vocabulary, from the runtime's events or the API's event stream. */
export type LiveEvent =
  | { type: 'text'; seq: number; execution: number; text: string }
  | { type: 'step-start'; seq: number; kind: string; name: string }
  | {
      type: 'step-end';
      seq: number;
      kind: string;
      name: string;
      status: string;
      replayed?: boolean;
      durationMs: number | null;
      costUsd: number | null;
      tokens?: { input: number; output: number };
      error?: { code: string; message?: string } | null;
    };

export interface LiveRun {
  /** Whether the model's text is shown as it streams (stdout is a terminal, no `--json`). */
  readonly streamsText: boolean;
  event(event: LiveEvent): void;
  /** A line (or lines) on stderr: the spinner is cleared first and an open text line ended. */
  note(text: string): void;
  /** A progress line (a resumed run, a wait): a note when stderr is a terminal, else nothing. */
  progress(text: string): void;
  /** Stops the spinner; prints `output` on stdout unless the streamed text already showed it. */
  finish(output: unknown): void;
  /** Stops the spinner and clears its line (the run failed or was left). */
  stop(): void;
}

export interface LiveRunOptions {
  io: Pick<CliIo, 'stdout' | 'stderr' | 'env'>;
  json: boolean;
  /** Milliseconds since some origin; default `performance.now`. */
  now?: () => number;
  /** Spinner redraw period (default 100 ms). */
  intervalMs?: number;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR_LINE = '\r\x1b[2K';

/** Seconds as `4.2s`, or `1m05s` from a minute on. */
export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}

/** Dollars with 4 decimals ($0.0012), more for smaller non-zero amounts ($0.000034). */
export function formatCost(usd: number): string {
  if (usd > 0 && usd < 0.0001) return `$${usd.toFixed(6)}`;
  return `$${usd.toFixed(4)}`;
}

export function createLiveRun({
  io,
  json,
  now = () => performance.now(),
  intervalMs = 100,
}: LiveRunOptions): LiveRun {
  const { stdout, stderr, env } = io;
  const streamsText = !json && stdout.isTTY === true;
  const notes = !json && stderr.isTTY === true;
  const spinning = streamsText && notes && env.TERM !== 'dumb';
  const color = spinning && (env.NO_COLOR ?? '') === '';
  const dim = (text: string) => (color ? `\x1b[2m${text}\x1b[22m` : text);
  // What a model, a tool or an error says reaches a terminal without its control sequences.
  const toStdout = (text: string) => stdout.write(stdout.isTTY === true ? terminalSafe(text) : text);
  const started = now();
  let cost = 0;
  let activity = 'starting';
  let frame = 0;
  let drawn = false;
  /** Whether stdout's cursor is at the start of a line (no text line left open). */
  let atLineStart = true;
  /** The text block being streamed: a model step's latest execution. */
  let block: { seq: number; execution: number; text: string } | undefined;
  /** The last model text shown whole, to tell whether the output needs printing again. */
  let lastText: string | undefined;

  const clear = () => {
    if (drawn) stderr.write(CLEAR_LINE);
    drawn = false;
  };
  const draw = () => {
    if (!spinning || !atLineStart) return;
    frame = (frame + 1) % FRAMES.length;
    const line = `${FRAMES[frame]} ${activity} · ${formatElapsed(now() - started)} · ${formatCost(cost)}`;
    stderr.write(`${CLEAR_LINE}${dim(line)}`);
    drawn = true;
  };
  const timer = spinning ? setInterval(draw, intervalMs) : undefined;
  timer?.unref();
  const endLine = () => {
    if (!atLineStart) stdout.write('\n');
    atLineStart = true;
  };
  /** A line on stderr as it is: only for text this module made safe (it may carry its colours). */
  const writeNote = (text: string) => {
    clear();
    endLine();
    stderr.write(text);
    draw();
  };
  const note = (text: string) => writeNote(stderr.isTTY === true ? terminalSafe(text) : text);
  const halt = () => {
    if (timer !== undefined) clearInterval(timer);
    clear();
  };
  if (spinning) draw();

  return {
    streamsText,
    event(event) {
      if (event.type === 'text') {
        if (!streamsText || event.text === '') return;
        if (block === undefined || block.seq !== event.seq || block.execution !== event.execution) {
          // A new step, or the same step streamed again (a retried call): on a line of its own.
          clear();
          endLine();
          block = { seq: event.seq, execution: event.execution, text: '' };
        }
        clear();
        block.text += event.text;
        toStdout(event.text);
        atLineStart = event.text.endsWith('\n');
        return;
      }
      if (event.type === 'step-start') {
        activity = event.kind === 'model' ? `${event.name}` : `${event.kind} ${event.name}`;
        return;
      }
      cost += event.costUsd ?? 0;
      activity = 'thinking';
      if (event.kind === 'model' && block?.seq === event.seq) {
        lastText = block.text;
        block = undefined;
        clear();
        endLine();
        draw();
      }
      if (!notes) return;
      // Streamed model steps speak for themselves; the rest (tools, failures) get a note.
      if (streamsText && event.kind === 'model' && event.status === 'completed') return;
      writeNote(renderNote(event, dim, stderr.isTTY === true));
    },
    note,
    progress(text) {
      if (notes) note(text);
    },
    finish(output) {
      halt();
      if (block !== undefined) lastText = block.text;
      if (streamsText && lastText !== undefined && sameText(lastText, output)) {
        endLine();
        return;
      }
      endLine();
      toStdout(renderOutput(output));
    },
    stop() {
      halt();
      endLine();
    },
  };
}

/** Whether a streamed text is the run's output (text, or the JSON it parses to). */
function sameText(text: string, output: unknown): boolean {
  if (typeof output === 'string') return text.trimEnd() === output.trimEnd();
  if (output === null || output === undefined) return false;
  try {
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(output);
  } catch {
    return false;
  }
}

function renderNote(
  event: Extract<LiveEvent, { type: 'step-end' }>,
  dim: (text: string) => string,
  terminal: boolean,
): string {
  const safe = (text: string) => (terminal ? terminalSafe(text) : text);
  const mark = event.status === 'completed' ? '✓' : '✗';
  const replay = event.replayed === true ? ' (replayed)' : '';
  const duration = event.durationMs === null ? '' : `  ${event.durationMs} ms`;
  const tokens = event.tokens === undefined ? '' : `  ${event.tokens.input}→${event.tokens.output} tok`;
  const error =
    event.error === null || event.error === undefined
      ? ''
      : `  ${event.error.code}${event.error.message === undefined ? '' : `: ${event.error.message}`}`;
  return `${dim(safe(`${mark} ${event.kind.padEnd(5)} ${event.name}${replay}${duration}${tokens}`))}${safe(error)}
`;
}
