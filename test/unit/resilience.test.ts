// Throttle parsing, error classification of what imapflow throws, the worker back-off, the retry
// delay, and the streaming line-ending conversion at every chunk split.
import { describe, expect, it, vi } from 'vitest';
import { classifyImapError } from '../../src/drivers/imap/connect.js';
import type { NetOptions } from '../../src/drivers/net-options.js';
import { isThrottleText, MAX_SUGGESTED_BACKOFF_MS, suggestedBackoffMs } from '../../src/drivers/throttle.js';
import { Throttle } from '../../src/engine/throttle.js';
import { crlfToLf, lfToCrlf } from '../../src/mail/line-endings.js';
import { crlfToLfStream, lfToCrlfStream } from '../../src/mail/line-endings-stream.js';
import { backoffDelay, longTimeout } from '../../src/retry.js';

const o = { endpoint: { host: 'mail.example.org', port: 993, user: 'alice', tls: 'implicit' }, timeoutMs: 5000 } as unknown as NetOptions;

describe('suggested back-off', () => {
  it('reads Office 365, seconds, minutes; clamps absurd values; none when absent', () => {
    expect(suggestedBackoffMs('Request is throttled. Suggested Backoff Time: 92415 milliseconds')).toBe(92415);
    expect(suggestedBackoffMs('[LIMIT] too many connections, retry after 30 seconds')).toBe(30_000);
    expect(suggestedBackoffMs('please wait 2 min')).toBe(120_000);
    expect(suggestedBackoffMs('Backoff Time: 999999999999 milliseconds')).toBe(MAX_SUGGESTED_BACKOFF_MS);
    expect(suggestedBackoffMs('Mailbox is locked')).toBeUndefined();
    expect(suggestedBackoffMs(undefined)).toBeUndefined();
  });
  it('knows throttling answers from refusals', () => {
    expect(isThrottleText('Request is throttled.')).toBe(true);
    expect(isThrottleText('[LIMIT] Too many')).toBe(true);
    expect(isThrottleText('x', 'INUSE')).toBe(true);
    expect(isThrottleText('x', 'UNAVAILABLE')).toBe(true);
    expect(isThrottleText('Invalid data in MIME part')).toBe(false);
    expect(isThrottleText('x', 'OVERQUOTA')).toBe(false);
  });
});

describe('classifyImapError', () => {
  const response = (code: string) => ({ attributes: [{ section: [{ value: code }] }] });
  it('ETHROTTLE: THROTTLED, waits what imapflow has not waited yet', () => {
    const e = classifyImapError({ code: 'ETHROTTLE', responseStatus: 'BAD', responseText: 'Request is throttled. Suggested Backoff Time: 5000 milliseconds', throttleReset: 5000, throttleWaited: 2000 }, o, 'mailbox');
    expect(e.code).toBe('THROTTLED');
    expect(e.retryable).toBe(true);
    expect(e.retryAfterMs).toBe(3000);
    expect(e.exitCode).toBe(5);
  });
  it('NO [LIMIT] / [INUSE] / [UNAVAILABLE]: THROTTLED with the suggested wait', () => {
    for (const code of ['LIMIT', 'INUSE', 'UNAVAILABLE']) {
      const e = classifyImapError({ responseStatus: 'NO', responseText: 'busy, retry after 2 seconds', response: response(code) }, o, 'mailbox');
      expect(e.code, code).toBe('THROTTLED');
      expect(e.retryAfterMs).toBe(2000);
      expect(e.message).toContain(`[${code}]`);
    }
  });
  it('a BYE: NETWORK, retryable, with the reason; a throttling BYE is THROTTLED', () => {
    const bye = classifyImapError({ code: 'NoConnection', reason: 'Server shutting down' }, o, 'mailbox');
    expect(bye.code).toBe('NETWORK');
    expect(bye.retryable).toBe(true);
    expect(bye.message).toContain('Server shutting down');
    expect(classifyImapError({ code: 'NoConnection', reason: 'Too many connections, try again later' }, o).code).toBe('THROTTLED');
  });
  it('an idle-read timeout says how long the server was silent', () => {
    const e = classifyImapError({ code: 'ETIMEOUT', message: 'Socket timeout' }, o, 'mailbox');
    expect(e.code).toBe('TIMEOUT');
    expect(e.message).toContain('sent nothing for 5 s');
    expect(e.retryable).toBe(true);
  });
  it('an absurd literal: MESSAGE_TOO_LARGE, message scope, not retried', () => {
    const e = classifyImapError({ code: 'LiteralTooLarge', message: 'Literal size 99999999999 exceeds maximum allowed size of 269484032 bytes' }, o, 'mailbox');
    expect(e.code).toBe('MESSAGE_TOO_LARGE');
    expect(e.scope).toBe('message');
    expect(e.retryable).toBe(false);
  });
  it('a plain NO is a refusal, not retried', () => {
    const e = classifyImapError({ responseStatus: 'NO', responseText: 'Invalid data in MIME part' }, o, 'mailbox');
    expect(e.code).toBe('PROTOCOL');
    expect(e.retryable).toBe(false);
  });
});

describe('Throttle: worker back-off', () => {
  it('halves workers on each throttle down to 1, gives one back per calm period, summarises', () => {
    let now = 1_000_000;
    const t = new Throttle(8, 30_000, () => now);
    const seen: number[] = [];
    t.onWorkers = (n) => seen.push(n);
    t.note('INBOX', 'throttled', 1500);
    t.note('INBOX', 'throttled', 2500);
    t.note('INBOX', 'throttled', 1000);
    t.note('INBOX', 'throttled', 1000);
    expect(seen).toEqual([4, 2, 1]);
    t.ok();
    expect(t.current).toBe(1); // not calm yet
    now += 30_000;
    t.ok();
    t.ok();
    expect(t.current).toBe(2);
    now += 30_000;
    t.ok();
    expect(t.current).toBe(3);
    const s = t.summary()!;
    expect(s.count).toBe(4);
    expect(s.totalWaitMs).toBe(6000);
    expect(s.minWorkers).toBe(1);
    expect(s.events[0].where).toBe('INBOX');
    expect(new Throttle(4).summary()).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('grows exponentially with jitter, caps at 30 s, honours the server', () => {
    for (let a = 1; a <= 10; a++) {
      const d = backoffDelay(a, 500);
      const exp = Math.min(30_000, 500 * 2 ** (a - 1));
      expect(d).toBeGreaterThanOrEqual(exp / 2);
      expect(d).toBeLessThanOrEqual(exp);
    }
    expect(backoffDelay(1, 500, 92_415)).toBe(92_415);
  });
});

describe('streaming line endings equal the whole-buffer conversion at every split', () => {
  const samples = [Buffer.from('a\r\nb\r\n\r\nc\rd\r\r\n\n\r'), Buffer.from('\r\n'), Buffer.from('\n\n\r\n\r'), Buffer.from('x\r')];
  async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
    const out: Buffer[] = [];
    for await (const c of it) out.push(c);
    return Buffer.concat(out);
  }
  async function* pieces(b: Buffer, cuts: number[]) {
    let from = 0;
    for (const c of [...cuts, b.length]) {
      yield b.subarray(from, c);
      from = c;
    }
  }
  it('crlfToLfStream and lfToCrlfStream, one and two cuts', async () => {
    for (const b of samples) {
      for (let i = 0; i <= b.length; i++) {
        for (let k = i; k <= b.length; k++) {
          expect((await collect(crlfToLfStream(pieces(b, [i, k])))).equals(crlfToLf(b)), `${JSON.stringify(b.toString())} @${i},${k}`).toBe(true);
          expect((await collect(lfToCrlfStream(pieces(b, [i, k])))).equals(lfToCrlf(b)), `${JSON.stringify(b.toString())} @${i},${k}`).toBe(true);
        }
      }
    }
  });
});

describe('longTimeout', () => {
  it('fires once, at its time, also past the ~24.8 days a Node timer holds; clear() stops it', () => {
    vi.useFakeTimers();
    try {
      const DAY = 86_400_000;
      const fired: number[] = [];
      const start = Date.now();
      longTimeout(() => fired.push(Date.now() - start), 30 * DAY);
      const cleared = longTimeout(() => fired.push(-1), 40 * DAY);
      vi.advanceTimersByTime(1000);
      expect(fired).toEqual([]);
      vi.advanceTimersByTime(29 * DAY);
      expect(fired).toEqual([]);
      cleared.clear();
      vi.advanceTimersByTime(DAY);
      expect(fired).toEqual([30 * DAY]);
      vi.advanceTimersByTime(20 * DAY);
      expect(fired).toEqual([30 * DAY]);
      const short: number[] = [];
      longTimeout(() => short.push(Date.now() - start), 5000);
      vi.advanceTimersByTime(5000);
      expect(short).toEqual([50 * DAY + 6000]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('watchTrickle', () => {
  it('cuts a connection fed a few bytes at a time for three windows; never one that is silent, gets one short answer a window, or keeps its answer coming', async () => {
    const { EventEmitter } = await import('node:events');
    const { watchTrickle } = await import('../../src/drivers/trickle.js');
    vi.useFakeTimers();
    try {
      const run = (feed: (s: InstanceType<typeof EventEmitter>, window: number) => void) => {
        const s = new EventEmitter();
        let cut = 0;
        watchTrickle(s as never, 1000, () => cut++);
        for (let w = 0; w < 5; w++) {
          feed(s, w);
          vi.advanceTimersByTime(1000);
        }
        return cut;
      };
      expect(run((s) => ['x', 'y', 'z'].forEach((c) => s.emit('data', Buffer.from(c))))).toBe(1);
      expect(run(() => {})).toBe(0);
      expect(run((s) => s.emit('data', Buffer.from('* OK Still here\r\n')))).toBe(0);
      expect(run((s) => { for (let i = 0; i < 10; i++) s.emit('data', Buffer.alloc(4096)); })).toBe(0);
      // A trickle broken by a window of real progress starts counting again.
      expect(run((s, w) => (w === 2 ? s.emit('data', Buffer.alloc(8192)) : ['x', 'y', 'z'].forEach((c) => s.emit('data', Buffer.from(c)))))).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
