/**
 * Reading a server's "slow down" answers. Office 365: "Request is throttled. Suggested Backoff
 * Time: 92415 milliseconds"; RFC 5530 response codes [LIMIT], [INUSE], [UNAVAILABLE]; POP3
 * [IN-USE], [SYS/TEMP], [LOGIN-DELAY]; a BYE that says why. The text is untrusted: the suggested
 * wait is clamped so a server cannot park a run for days.
 */

/** Longest wait a server can ask for before mailferry retries anyway (10 minutes). */
export const MAX_SUGGESTED_BACKOFF_MS = 10 * 60 * 1000;

/** Response codes that mean "try again later" rather than "no". */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set(['LIMIT', 'INUSE', 'UNAVAILABLE', 'IN-USE', 'SYS/TEMP', 'LOGIN-DELAY', 'THROTTLED']);

const UNIT_MS: Record<string, number> = { ms: 1, millisecond: 1, milliseconds: 1, s: 1000, sec: 1000, second: 1000, seconds: 1000, min: 60_000, minute: 60_000, minutes: 60_000 };

/**
 * The wait a server suggests in its answer text, in ms (clamped to MAX_SUGGESTED_BACKOFF_MS), or
 * undefined when it names none. "Backoff Time: 5000 milliseconds", "retry after 30 seconds", ….
 */
export function suggestedBackoffMs(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = /(?:back-?off(?:\s+time)?|retry\s+after|try\s+again\s+in|wait)\s*[:=]?\s*(\d{1,12})\s*(ms|milliseconds?|s|sec|seconds?|min|minutes?)?\b/i.exec(text);
  if (!m) return undefined;
  const unit = UNIT_MS[(m[2] ?? 'ms').toLowerCase()] ?? 1;
  return Math.min(MAX_SUGGESTED_BACKOFF_MS, Number(m[1]) * unit);
}

/** The bracketed response code at the start of a server text ("[LIMIT] too many …" → "LIMIT"). */
export function responseCodeOf(text: string | undefined): string | undefined {
  const m = /^\s*\[([A-Z0-9/-]+)/i.exec(text ?? '');
  return m ? m[1].toUpperCase() : undefined;
}

/** Whether a server's text is a throttling / "try later" answer. */
export function isThrottleText(text: string | undefined, code?: string): boolean {
  const c = (code ?? responseCodeOf(text) ?? '').toUpperCase();
  if (TRANSIENT_CODES.has(c)) return true;
  return /throttl|too many (?:\w+ )?(?:connections|requests|commands|sessions)|maximum number of (?:\w+ )?(?:connections|sessions)|rate limit|try again later|bandwidth limit|exceeded.*limit/i.test(text ?? '');
}
