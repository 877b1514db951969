import { readFileSync } from 'node:fs';

/**
 * The usage of one command, cut from the global help so the two cannot disagree: the help's
 * `keel <command> ...` lines (with their indented continuation lines), then the command's flags
 * and the common ones. Undefined for a command the help does not list.
 */
export function commandUsage(
  help: string,
  command: string,
  flags: readonly { name: string; short?: string }[],
): string | undefined {
  const lines = help.split('\n');
  const usage: string[] = [];
  let inCommand = false;
  for (const line of lines) {
    const words = /^ {2}keel (\S+)/.exec(line);
    if (words) {
      // `keel tools disable|enable ...` is the `tools` command; `keel run` is not `keel runs`.
      inCommand = words[1] === command;
      if (inCommand) usage.push(line);
    } else if (inCommand && /^ {4,}\S/.test(line)) usage.push(line);
    else inCommand = false;
  }
  if (usage.length === 0) return undefined;
  const flagLines = flags.map(({ name, short }) => `  ${short === undefined ? '' : `-${short}, `}--${name}`);
  return (
    `Usage:\n${usage.join('\n')}\n\n` +
    (flagLines.length === 0 ? '' : `Flags:\n${flagLines.join('\n')}\n\n`) +
    `Common:\n  --config FILE   the config file (default: KEEL_CONFIG or ./keel.config.{ts,mts,js,mjs})\n` +
    `  -h, --help      this help\n\nAll commands: keel --help\n`
  );
}

/** The version of the installed `keel` package, from its package.json (src/ and dist/ sit beside it). */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  if (typeof manifest.version !== 'string') throw new Error('package.json has no version.');
  return manifest.version;
}
