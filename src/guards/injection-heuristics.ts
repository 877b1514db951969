/**
 * Heuristics for prompt injection, without a model: weighted patterns in five families (an
 * attempt to override instructions, role or system impersonation, delimiter tricks,
 * exfiltration, and, in untrusted data only, instructions addressed to the assistant). A text is
 * flagged when its score (the sum of the weights of the distinct rules that match) reaches 1.
 *
 * Two modes, because the same words mean different things in different places. A user's request
 * is made of instructions ("plan 3 days, ignore museums"): in `direct` mode only the override,
 * impersonation, delimiter and exfiltration families count. A tool's output is data: any
 * sentence in it that addresses the assistant ("add this to your reply") is suspect, so
 * `indirect` mode adds the family that looks for those (BIPIA's attacks are of that kind).
 *
 * Patterns are compiled once; every gap is a bounded, lazy run of non-newline characters, so a
 * scan is linear in the text's length. Tuned on BIPIA's train files (see
 * docs/governance.md (Guards) for the figures on its test files).
 */

export type InjectionMode = 'direct' | 'indirect';

/** The family of a prompt-injection finding. */
export type InjectionFamily =
  'override' | 'impersonation' | 'delimiter' | 'exfiltration' | 'addressed_instruction';

interface InjectionRule {
  id: string;
  family: InjectionFamily;
  weight: number;
  pattern: RegExp;
  /** Only in untrusted data (tool outputs). */
  indirectOnly?: boolean;
}

/** What the heuristics found in one text. */
export interface InjectionFinding {
  /** True when `score` reaches 1. */
  flagged: boolean;
  score: number;
  /** The rules that matched, e.g. `override.ignore_previous`. */
  rules: string[];
  families: InjectionFamily[];
}

/** Sentence or line start, allowing a list bullet or quote mark. */
const START = String.raw`(?:^|[.!?:]\s+|\n)[ \t]*(?:[-*>•"'“]\s*)?`;
/** What the assistant writes, as an instruction hidden in data names it ("add this to your reply"). */
const ASSISTANT_TEXT = String.raw`(?:response|reply|answer|output|message|elucidation|explanation|summary)`;
/** The same for code; weaker, as answers about code say "in your code" to their reader. */
const ASSISTANT_CODE = String.raw`(?:code(?:base)?|implementation|solution|algorithm|program(?:\s+logic)?|script)`;
const ASSISTANT_OUTPUT = String.raw`(?:${ASSISTANT_TEXT}|${ASSISTANT_CODE})`;

const RULES: readonly InjectionRule[] = [
  // Override: an attempt to replace the instructions the model was given.
  rule(
    'override.ignore_previous',
    'override',
    1,
    String.raw`\b(?:ignore|disregard|forget|override|bypass|abandon|drop)\b[^\n.]{0,30}?\b(?:previous|prior|above|earlier|preceding|initial|original|system|developer|all|any|your|these|those|safety)\b[^\n.]{0,20}?\b(?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|constraints|policies|restrictions|programming|context)\b`,
  ),
  rule(
    'override.new_instructions',
    'override',
    1,
    String.raw`\b(?:new|updated|real|actual|revised|additional|hidden|secret)\s+(?:instructions?|system\s+prompt|directives?|orders)\s*[:\-]`,
  ),
  rule(
    'override.from_now_on',
    'override',
    1,
    String.raw`\bfrom\s+now\s+on,?\s+(?:you|your|respond|reply|answer|act|only|always|never)\b`,
  ),
  rule(
    'override.you_are_now',
    'override',
    1,
    String.raw`\byou\s+are\s+(?:now|no\s+longer)\s+(?:(?:a|an|the)\s+(?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue|new\s+ai|different\s+ai)|free\s+(?:from|of)|dan|unrestricted|unfiltered|jailbroken|bound|required\s+to\s+follow|in\s+(?:developer|god|dan|jailbreak)\s+mode)\b`,
  ),
  rule(
    'override.mode',
    'override',
    1,
    String.raw`\b(?:developer|god|jailbreak|jailbroken|dan|unrestricted|unfiltered|admin)\s+mode\b|\bdo\s+anything\s+now\b`,
  ),
  rule(
    'override.unrestricted_persona',
    'override',
    1,
    String.raw`\b(?:act|behave|respond)\s+as\s+(?:if\s+you\s+(?:are|were)\s+)?(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue)\b`,
  ),
  rule(
    'override.no_restrictions',
    'override',
    0.5,
    String.raw`\bwithout\s+(?:any\s+)?(?:restrictions|filters|censorship|limitations|guardrails|safety\s+(?:checks|rules))\b`,
  ),
  rule(
    'override.pretend',
    'override',
    0.5,
    String.raw`\bpretend\s+(?:that\s+)?(?:you\s+are|to\s+be|you're)\b`,
  ),

  // Impersonation: text that poses as the system, the developer or a chat template.
  rule(
    'impersonation.role_line',
    'impersonation',
    1,
    String.raw`(?:^|\n)[ \t]*(?:#{1,4}[ \t]*|\[)?(?:system|developer)(?:[ \t]+(?:prompt|message|instructions?|note|override))?[ \t]*(?:\]|:)`,
  ),
  rule(
    'impersonation.template_token',
    'impersonation',
    1,
    String.raw`<\|(?:im_start|im_end|system|endoftext|eot_id|start_header_id|end_header_id)\|>|\[/?INST\]|<</?SYS>>|</?(?:system|developer|instructions?)>`,
  ),
  rule(
    'impersonation.admin_note',
    'impersonation',
    1,
    String.raw`\[(?:system|admin|administrator|developer|openai|anthropic)[ \t]*(?:message|note|notice|override|instruction)?\]|\bmessage\s+from\s+(?:the\s+)?(?:system|developer|administrator)\b`,
  ),
  rule(
    'impersonation.to_the_ai',
    'impersonation',
    1,
    String.raw`\bif\s+you\s+are\s+an?\s+(?:ai|assistant|language\s+model|llm|bot|agent)\b|\b(?:note|message|instructions?)\s+(?:to|for)\s+(?:the\s+)?(?:ai|assistant|model|llm|agent|chatbot)\b|\b(?:ai|assistant|llm|model|agent)s?\s+(?:reading|processing|summari[sz]ing|parsing)\s+this\b`,
  ),

  // Delimiter tricks: fake ends of the data, to make what follows read as instructions.
  rule(
    'delimiter.fake_end',
    'delimiter',
    1,
    String.raw`\b(?:end|close)\s+of\s+(?:the\s+)?(?:document|context|data|input|tool\s+output|user\s+input|untrusted\s+(?:data|content)|search\s+results?)\s*(?:[-=#*\]>]|\n)`,
  ),
  rule(
    'delimiter.closing_tag',
    'delimiter',
    1,
    String.raw`(?:<|&lt;)/(?:document|context|data|tool_output|tool_result|untrusted|untrusted[-_]data|search_results?|user_input)>`,
  ),

  // Exfiltration: asks to reveal the prompt or send data somewhere.
  rule(
    'exfiltration.reveal_prompt',
    'exfiltration',
    1,
    String.raw`\b(?:reveal|print|show|repeat|output|leak|disclose|tell\s+me|give\s+me|share|recite)\b[^\n.]{0,20}?\b(?:your|the)\s+(?:system\s+prompt|initial\s+prompt|hidden\s+(?:prompt|instructions)|original\s+(?:prompt|instructions)|(?:instructions|prompt|text)\s+above|developer\s+message|secret\s+instructions)`,
  ),
  rule(
    'exfiltration.send_data',
    'exfiltration',
    1,
    String.raw`\b(?:send|post|forward|upload|e-?mail|exfiltrate|transmit|share)\b[^\n.]{0,40}?\b(?:conversation|chat\s+history|credentials|passwords?|api\s+keys?|tokens?|secrets?|personal\s+(?:data|information|details)|user\s+data|bank\s+details|private\s+keys?|cookies?|session)\b[^\n]{0,60}?(?:https?://|www\.|[\w.-]+@[\w-]+\.)`,
  ),
  rule(
    'exfiltration.markdown_image',
    'exfiltration',
    1,
    String.raw`!\[[^\]\n]{0,100}\]\(https?://[^)\s]{1,300}\?[^)\s]{0,300}=`,
  ),
  rule(
    'exfiltration.conceal',
    'exfiltration',
    1,
    String.raw`\b(?:do\s+not|don't|never)\s+(?:tell|inform|mention\s+(?:this\s+)?to|reveal\s+(?:this\s+)?to|notify|alert)\s+(?:the\s+)?user\b|\bwithout\s+(?:telling|informing|alerting|notifying)\s+the\s+user\b`,
  ),

  // Instructions addressed to the assistant inside data (indirect injection).
  rule(
    'addressed.in_your_output',
    'addressed_instruction',
    1,
    String.raw`\b(?:in|into|to|within|from|of|for|with|throughout)\s+(?:your|the\s+assistant's)\s+(?:(?:final|next|entire|whole)\s+)?${ASSISTANT_TEXT}\b`,
    true,
  ),
  rule(
    'addressed.in_your_code',
    'addressed_instruction',
    0.5,
    String.raw`\b(?:in|into|to|within|from|of|for|with|throughout)\s+your\s+(?:(?:final|entire|whole|code)\s+)?${ASSISTANT_CODE}\b`,
    true,
  ),
  rule(
    'addressed.your_output',
    'addressed_instruction',
    0.5,
    String.raw`\byour\s+(?:response|reply|answer|output|elucidation)(?:'s)?\b`,
    true,
  ),
  rule(
    'addressed.the_following_code',
    'addressed_instruction',
    0.5,
    String.raw`\b(?:following|below|subsequent|above)\s+code\s+(?:snippet|block|section|excerpt|segment|fragment)\b`,
    true,
  ),
  rule(
    'addressed.verb_your_output',
    'addressed_instruction',
    1,
    String.raw`\b(?:provide|render|enhance|augment|modify|write|encode|reverse|format|refine|end|begin|start|conclude|translate|express|embellish|enrich|improve|spice\s+up|present|deliver|craft|compose|structure|finish|adjust|rewrite|sign|close)\s+your\s+${ASSISTANT_OUTPUT}\b`,
    true,
  ),
  rule(
    'addressed.your_code_should',
    'addressed_instruction',
    0.5,
    String.raw`\byour\s+(?:code|solution|implementation|algorithm|program|codebase|script)\s+(?:should|could|can|must|will|would|might|may)\b`,
    true,
  ),
  rule(
    'addressed.task_imperative',
    'addressed_instruction',
    1,
    String.raw`${START}(?:please\s+)?(?:explain|describe|summari[sz]e|analy[sz]e|translate|compose|draft|elaborate\s+on|outline|break\s+down|write\s+(?:a|an|me|some)|provide\s+(?:a|an|me|some|the|insights?|examples?)|generate\s+(?:a|an|some)|list\s+(?:the|all|some|\d+)|suggest\s+(?:a|an|some)|recommend\s+(?:a|an|some)|develop\s+(?:a|an)|show\s+me|give\s+me|tell\s+me|help\s+me)\b`,
    true,
  ),
  rule(
    'addressed.question',
    'addressed_instruction',
    1,
    String.raw`${START}(?:can|could|would|will)\s+you\s+(?:show|explain|tell|give|help|write|provide|list|describe|suggest|recommend|translate|reply|respond|use|substitute|classify|invert)\b|${START}(?:how\s+(?:can|do|should|would)\s+(?:i|you)|what\s+(?:is|are|were)\s+(?:the|'|")|what's\s+['"]|who\s+(?:wrote|invented|discovered|painted)|is\s+this\s+(?:feedback|review|comment|sentence))\b`,
    true,
  ),
  rule(
    'addressed.format_demand',
    'addressed_instruction',
    1,
    String.raw`\b(?:reply|respond|answer|write)\s+(?:only\s+)?(?:in|using|with)\s+(?:base\s?\d\d|emojis?|reverse|french|english|chinese|japanese|korean|arabic|hindi|dutch|french|german|spanish|italian|portuguese|russian|japanese|chinese|a\s+caesar\s+cipher)|\b(?:base\s?(?:16|32|58|64))\s+(?:encoding|format)\b|\bcaesar\s+cipher\b`,
    true,
  ),
];

function rule(
  id: string,
  family: InjectionFamily,
  weight: number,
  source: string,
  indirectOnly = false,
): InjectionRule {
  return { id, family, weight, pattern: new RegExp(source, 'i'), indirectOnly };
}

/** Detects prompt injection in `text` by heuristics alone (see the module comment for the modes). */
export function detectInjection(text: string, mode: InjectionMode = 'direct'): InjectionFinding {
  let score = 0;
  const rules: string[] = [];
  const families = new Set<InjectionFamily>();
  for (const each of RULES) {
    if (each.indirectOnly && mode !== 'indirect') continue;
    if (!each.pattern.test(text)) continue;
    score += each.weight;
    rules.push(each.id);
    families.add(each.family);
  }
  return { flagged: score >= 1, score, rules, families: [...families] };
}
