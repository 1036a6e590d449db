/**
 * The FETCH row fast path in imapflow's parser (patches/imapflow+2.10.2.patch, fetch-response.js):
 * for every line, parser() must give what the tokenizer alone gives (parseTokens), the same
 * result or the same error, and the fast path must take the rows servers really send.
 */
import { describe, expect, it } from 'vitest';
import { random } from '../harness/random.js';
import parser, { parseTokens } from 'imapflow/lib/handler/imap-parser.js';
import { readFetchResponse } from 'imapflow/lib/handler/fetch-response.js';

const MAX_TOKENS = 1_000_000;

interface Case {
  line: Buffer;
  literals: Buffer[];
  maxResponseTokens?: number;
}

/** The tokenizer's answer and parser()'s, for one line: each a result or an error code. */
async function both(c: Case): Promise<[unknown, unknown]> {
  const opts = () => ({ literals: c.literals, maxResponseTokens: c.maxResponseTokens });
  const settle = (p: Promise<unknown>) => p.then((r) => r, (err: { code?: string }) => ({ error: err.code ?? String(err) }));
  return [await settle(parser(c.line, opts())), await settle(parseTokens(c.line, opts()))];
}

const dovecotRows: Case[] = [
  {
    line: Buffer.from('* 12 FETCH (UID 34 FLAGS (\\Seen $Forwarded) INTERNALDATE "17-Jul-1996 02:44:25 -0700" RFC822.SIZE 44 BODY[HEADER.FIELDS (MESSAGE-ID)] {22}\r\n)'),
    literals: [Buffer.from('Message-ID: <a@b>\r\n\r\n')],
  },
  { line: Buffer.from('* 1 FETCH (UID 1 FLAGS () INTERNALDATE " 1-Jan-2001 00:00:00 +0000" RFC822.SIZE 0 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n)'), literals: [Buffer.from('\r\n')] },
  { line: Buffer.from('* 7 FETCH (UID 4294967295 BODY[] {3}\r\n)'), literals: [Buffer.from('x\r\n')] },
  { line: Buffer.from('* 7 FETCH (UID 9 BINARY[] {2}\r\n)'), literals: [Buffer.from('\0a')] },
  { line: Buffer.from('* 7 FETCH (UID 9 FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" BODY[] {0}\r\n)'), literals: [Buffer.alloc(0)] },
  {
    line: Buffer.from('* 3 FETCH (UID 5 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n BODY[] {4}\r\n)'),
    literals: [Buffer.from('\r\n'), Buffer.from('ab\r\n')],
  },
  { line: Buffer.from('* 2 FETCH (UID 2 FLAGS (\\Answered \\Flagged \\Deleted \\Draft $Junk NonJunk a.b-c_d $label1))'), literals: [] },
];

describe('the FETCH row fast path', () => {
  it('takes the rows Dovecot sends, and gives what the tokenizer gives', async () => {
    for (const c of dovecotRows) {
      const fast = readFetchResponse(c.line, c.literals, MAX_TOKENS);
      expect(fast, c.line.toString()).not.toBeNull();
      const [viaParser, tokens] = await both(c);
      expect(fast).toStrictEqual(tokens);
      expect(viaParser).toStrictEqual(tokens);
      // The literal is the buffer ImapStream read, not a copy.
      const items = (fast!.attributes![1] as { type?: string; value?: unknown }[]).filter((t) => t?.type === 'LITERAL');
      items.forEach((t, i) => expect(t.value).toBe(c.literals[i]));
    }
  });

  it('leaves what it does not read to the tokenizer: NIL, partials, literal8, escapes, odd spacing, missing or extra literals', () => {
    const no = (line: string, literals: string[] = []) => expect(readFetchResponse(Buffer.from(line), literals.map((l) => Buffer.from(l)), MAX_TOKENS), line).toBeNull();
    no('* 1 FETCH (UID 1 BODY[] NIL)');
    no('* 1 FETCH (UID 1 BODY[]<0> {1}\r\n)', ['x']);
    no('* 1 FETCH (UID 1 BINARY[] ~{1}\r\n)', ['x']);
    no('* 1 FETCH (UID 1 BODY[] "x")');
    no('* 1 FETCH (INTERNALDATE "a\\"b")');
    no('* 1 FETCH (FLAGS (nil))');
    no('* 1 FETCH (FLAGS (\\Seen  $X))');
    no('* 1 FETCH (FLAGS (1abc))');
    no('* 1 FETCH (UID 1  RFC822.SIZE 2)');
    no('* 1 FETCH (UID 1) ');
    no('* 1 FETCH (UID 1 BODY[] {1}\r\n)');
    no('* 1 FETCH (UID 1 BODY[] {1} \r\n)', ['x']);
    no('* 1 FETCH (UID 1 BODY[] {1}\r)', ['x']);
    no('* 1 FETCH (UID 1 BODY[] {1}\r\n)', ['x', 'y']);
    no('* 1 FETCH (UID 1 MODSEQ (5))');
    no('* 1 fetch (UID 1)');
    no('* 01 FETCH (UID 1)');
    no('* 1 FETCH ()');
    no('* 1 FETCH (FLAGS (caf\u00e9))');
  });

  it('gives up past the token limit, where the tokenizer fails', async () => {
    const c = dovecotRows[0]!;
    // The least limit the tokenizer reads this row under: one below it, it fails.
    let least = 0;
    while ((await both({ ...c, maxResponseTokens: least }))[1] && ((await both({ ...c, maxResponseTokens: least }))[1] as { error?: string }).error) least++;
    expect(least).toBe(18);
    expect(readFetchResponse(c.line, c.literals, least)).not.toBeNull();
    expect(readFetchResponse(c.line, c.literals, least - 1)).toBeNull();
    const [viaParser, tokens] = await both({ ...c, maxResponseTokens: least - 1 });
    expect(tokens).toEqual({ error: 'TooManyTokens' });
    expect(viaParser).toEqual(tokens);
  });

  it('for generated and damaged rows, parser() gives what the tokenizer alone gives, result or error', async () => {
    const rand = random(20261128);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    // Each row is drawn either from what the fast path reads (plain) or from all of these.
    const pools = (plain: boolean) => ({
      nums: plain ? ['1', '12', '4294967295', '0', '007'] : ['1', '12', '4294967295', '0', '007', '123456789012345678901', '-1', '1a', ''],
      flags: plain ? ['\\Seen', '\\Answered', '$Forwarded', 'Junk', 'a.b-c_d', '$1', 'NILx'] : ['\\Seen', '$Forwarded', 'nil', 'NIL', 'NILx', '1abc', '\\*', '%x', 'x]', '', '\\', '~x', '<x', 'caf\u00e9'],
      dates: plain ? ['28-Nov-2026 15:00:00 +0000', ' 1-Jan-2001 00:00:00 -0700'] : ['28-Nov-2026 15:00:00 +0000', 'with \\"escape', 'tab\there', 'caf\u00e9', ''],
      keys: plain ? ['BODY', 'BINARY'] : ['BODY', 'BINARY', 'body', 'BODY.PEEK'],
      sections: plain
        ? ['[]', '[HEADER.FIELDS (MESSAGE-ID)]', '[HEADER.FIELDS (MESSAGE-ID SUBJECT)]', '[HEADER]', '[HEADER.FIELDS ()]']
        : ['[]', '[HEADER.FIELDS (MESSAGE-ID)]', '[1.2]', '[HEADER.FIELDS (NIL)]', '[ ]', '[TEXT]', '[HEADER.FIELDS (message-id)]'],
      values: plain ? ['{N}\r\n', '{N}\n'] : ['{N}\r\n', '{N}\n', '~{N}\r\n', '{N+}\r\n', 'NIL', '"q"', '{N}'],
      others: plain ? 4 : 6,
    });
    const item = (plain: boolean, literals: Buffer[]): string => {
      const p = pools(plain);
      switch (Math.floor(rand() * p.others)) {
        case 0:
          return `${pick(plain ? ['UID', 'RFC822.SIZE'] : ['UID', 'uid', 'RFC822.SIZE'])} ${pick(p.nums)}`;
        case 1:
          return `FLAGS (${Array.from({ length: Math.floor(rand() * 4) }, () => pick(p.flags)).join(' ')})`;
        case 2:
          return plain || rand() < 0.9 ? `INTERNALDATE "${pick(p.dates)}"` : 'INTERNALDATE NIL';
        case 4:
          return pick(['MODSEQ (123)', 'X-GM-LABELS ("\\\\Inbox")', 'ENVELOPE NIL', 'RFC822.SIZE NIL']);
        default: {
          const body = Buffer.from(pick(['x', 'Message-ID: <a@b>\r\n\r\n', '', '\0\r\n']));
          const value = pick(p.values);
          if (value.includes('{')) literals.push(body);
          return `${pick(p.keys)}${pick(p.sections)}${!plain && rand() < 0.2 ? '<0>' : ''} ${value.replace('N', String(body.length))}`;
        }
      }
    };
    const cases: { c: Case; damaged: boolean }[] = [];
    for (let n = 0; n < 20_000; n++) {
      const plain = rand() < 0.5;
      const literals: Buffer[] = [];
      const items = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => item(plain, literals));
      const odd = !plain && rand() < 0.3;
      let line = `* ${odd ? pick(pools(false).nums) : pick(['1', '12', '65535'])} ${odd && rand() < 0.3 ? 'fetch' : 'FETCH'} (${items.join(odd && rand() < 0.3 ? '  ' : ' ')})${odd ? pick([' ', ')', '']) : ''}`;
      if (odd && rand() < 0.2) literals.push(Buffer.from('extra'));
      if (odd && rand() < 0.2) literals.pop();
      const damaged = rand() < 0.3;
      if (damaged) {
        const alphabet = ['(', ')', '[', ']', '{', '}', '"', '\\', ' ', '*', '<', '>', '~', '+', '0', '1', 'N', 'I', 'L', 'a', 'Z', '$', '.', '\r', '\n', '\u00e9', '\0'];
        for (let e = 1 + Math.floor(rand() * 3); e > 0; e--) {
          const at = Math.floor(rand() * (line.length + 1));
          const edit = Math.floor(rand() * 3);
          line = line.slice(0, at) + (edit === 1 ? '' : pick(alphabet)) + line.slice(edit === 0 ? at : at + 1);
        }
      }
      cases.push({ c: { line: Buffer.from(line), literals, maxResponseTokens: rand() < 0.1 ? Math.floor(rand() * 20) : undefined }, damaged });
    }
    const taken = { clean: 0, damaged: 0 };
    let failures = 0;
    for (const { c, damaged } of cases) {
      const [viaParser, tokens] = await both(c);
      expect(viaParser, JSON.stringify(c.line.toString())).toStrictEqual(tokens);
      const limit = c.maxResponseTokens ?? MAX_TOKENS;
      if (readFetchResponse(c.line, c.literals, limit) !== null) taken[damaged ? 'damaged' : 'clean']++;
      if ((tokens as { error?: string }).error) failures++;
    }
    // Not vacuous: the fast path takes many lines, damaged ones included, and the tokenizer
    // fails on many others (whose errors parser() must then give too).
    expect(taken.clean).toBeGreaterThan(3000);
    expect(taken.damaged).toBeGreaterThan(200);
    expect(failures).toBeGreaterThan(3000);
  });
});
