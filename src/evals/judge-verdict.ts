import { z } from 'zod';
import { isPlainObject, parseJson } from '../model/json.js';
import type { ScoreResult } from './scorer.js';

/**
 * The verdict a judge model must answer, `{ "pass": boolean, "score": 0..1, "reason": "..." }`,
 * read leniently as every provider answer is: models wrap JSON in a Markdown fence or in a
 * sentence, write `"true"` for `true` or leave the score out. What cannot be read as a verdict
 * is `undefined`, never a guessed pass or fail.
 */

const booleanLike = z.union([
  z.boolean(),
  z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['true', 'false']))
    .transform((value) => value === 'true'),
]);

const verdictSchema = z.object({
  pass: booleanLike,
  // A number as text ("0.8") is still a number; out of range is not a verdict.
  score: z
    .union([
      z.number(),
      z
        .string()
        .trim()
        .regex(/^\d*\.?\d+$/)
        .transform(Number),
    ])
    .pipe(z.number().min(0).max(1))
    .optional(),
  reason: z.string().optional(),
});

/** A verdict the judge answered, as a scorer result (a missing score is 1 for pass, 0 for fail). */
export function parseJudgeVerdict(answer: string): ScoreResult | undefined {
  for (const candidate of jsonCandidates(answer)) {
    const json = parseJson(candidate);
    if (!json.ok || !isPlainObject(json.value)) continue;
    const verdict = verdictSchema.safeParse(json.value);
    if (!verdict.success) continue;
    const { pass, score, reason } = verdict.data;
    const said = reason?.trim();
    return { pass, score: score ?? (pass ? 1 : 0), reason: said ? said : '(the judge gave no reason)' };
  }
  return undefined;
}

/**
 * The texts that may hold the verdict, most likely first: the whole answer, each fenced block,
 * then each balanced `{...}` in the text (the JSON inside a sentence).
 */
function* jsonCandidates(answer: string): Generator<string> {
  yield answer.trim();
  for (const fenced of answer.matchAll(/```[a-zA-Z]*[^\S\n]*\n?([\s\S]*?)```/g)) {
    if (fenced[1] !== undefined) yield fenced[1].trim();
  }
  for (let start = answer.indexOf('{'); start !== -1; start = answer.indexOf('{', start + 1)) {
    const end = matchingBrace(answer, start);
    if (end !== undefined) yield answer.slice(start, end + 1);
  }
}

/** Where the object opened at `start` closes, skipping braces inside JSON strings. */
function matchingBrace(text: string, start: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let index = start; index < text.length; index++) {
    const char = text[index];
    if (inString) {
      if (char === '\\') index++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{') depth++;
    else if (char === '}' && --depth === 0) return index;
  }
  return undefined;
}
