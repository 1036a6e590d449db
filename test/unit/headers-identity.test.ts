import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { headerBlock, headerValue, headerValues, messageIdOf, normalizeMessageId } from '../../src/mail/headers.js';
import { contentIdentity, identityBeforeBody, identityOfBody } from '../../src/engine/identity.js';
import { HeaderFields } from '../../src/mail/header-fields.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('header block and Message-ID', () => {
  it('finds the header block with LF or CRLF endings', () => {
    expect(headerBlock(b('A: 1\nB: 2\n\nbody\n\nmore')).toString()).toBe('A: 1\nB: 2\n');
    expect(headerBlock(b('A: 1\r\n\r\nbody')).toString()).toBe('A: 1\r\n');
    expect(headerBlock(b('\nbody')).length).toBe(0);
    expect(headerBlock(b('A: 1\nno body')).toString()).toBe('A: 1\nno body');
  });
  it('an empty line ends the header whatever the line before it ended with (LF then CRLF), as a server reads it', () => {
    const mixed = b('From: a@x\nSubject: mixed\n\r\nMessage-ID: <in-body@x>\nbody\n');
    expect(headerBlock(mixed).toString()).toBe('From: a@x\nSubject: mixed\n');
    expect(messageIdOf(mixed)).toBeNull();
    expect(headerBlock(b('A: 1\r\nB: 2\r\n\nbody')).toString()).toBe('A: 1\r\nB: 2\r\n');
  });
  it('reads folded headers case-insensitively, first one wins', () => {
    const h = b('Subject: x\nmessage-ID:\n  <abc@Example.COM>\nMessage-ID: <second@x>\n\n');
    expect(headerValue(h, 'Message-Id')).toBe('<abc@Example.COM>');
    expect(messageIdOf(h)).toBe('<abc@example.com>');
  });
  it('normalises: comments and spaces dropped, domain lower-cased, local part kept', () => {
    expect(normalizeMessageId(' <AbC@Dom.Example> (added by x)')).toBe('<AbC@dom.example>');
    expect(normalizeMessageId('noangle@Host')).toBe('<noangle@host>');
    expect(normalizeMessageId('')).toBeNull();
    expect(normalizeMessageId('   ')).toBeNull();
    expect(normalizeMessageId(null)).toBeNull();
    // A NUL counts as 0x80: Dovecot serves a header's NUL so.
    expect(normalizeMessageId('<nul\0mid@Example.org>')).toBe(normalizeMessageId('<nul\x80mid@example.org>'));
  });
  it('inside the angle brackets only folding whitespace goes: a comment-like part or a quoted space is part of the id', () => {
    expect(normalizeMessageId('<ticket(1)@example.org>')).toBe('<ticket(1)@example.org>');
    expect(normalizeMessageId('<ticket(2)@example.org>')).not.toBe(normalizeMessageId('<ticket(1)@example.org>'));
    expect(normalizeMessageId('<"john doe"@Example.org>')).toBe('<"john doe"@example.org>');
    expect(normalizeMessageId('<"john doe"@example.org>')).not.toBe(normalizeMessageId('<"johndoe"@example.org>'));
    expect(normalizeMessageId('(see <other@x>) <real@X.org>')).toBe('<real@x.org>');
    expect(normalizeMessageId('<very-long-id@\r\n example.org>')).toBe('<very-long-id@example.org>');
    expect(normalizeMessageId('<a@b.c> <second@d.e>')).toBe('<a@b.c>');
    expect(normalizeMessageId('<unclosed@x')).toBe('<unclosed@x>');
    expect(normalizeMessageId('<>')).toBeNull();
  });
  it('the token inside <...> equals the rule, character by character, for every mix of brackets, quotes, escapes, comments and spaces', () => {
    // The rule, the slow way: the first '<' outside comments and quotes; inside it, up to a '>'
    // outside quotes, unquoted whitespace dropped, a quoted backslash keeping the character after it.
    const token = (v: string): string | undefined => {
      let depth = 0;
      let quoted = false;
      for (let i = 0; i < v.length; i++) {
        const c = v[i]!;
        if (quoted) {
          if (c === '\\') i++;
          else if (c === '"') quoted = false;
        } else if (depth > 0) {
          if (c === '\\') i++;
          else if (c === '(') depth++;
          else if (c === ')') depth--;
        } else if (c === '(') depth = 1;
        else if (c === '"') quoted = true;
        else if (c === '<') {
          let out = '';
          let q = false;
          for (let j = i + 1; j < v.length; j++) {
            const d = v[j]!;
            if (q) {
              out += d;
              if (d === '\\' && j + 1 < v.length) out += v[++j];
              else if (d === '"') q = false;
            } else if (d === '>') return out || undefined;
            else if (d === '"') (q = true), (out += d);
            else if (!/\s/.test(d)) out += d;
          }
          return undefined;
        }
      }
      return undefined;
    };
    const slow = (v: string): string | null => {
      const id = token(v) ?? v.replace(/\([^()]*\)/g, '').replace(/\s+/g, '').replace(/[<>]/g, '');
      if (!id) return null;
      const at = id.lastIndexOf('@');
      return '<' + (at < 0 ? id : id.slice(0, at) + '@' + id.slice(at + 1).toLowerCase()) + '>';
    };
    const alphabet = ['<', '>', '"', '\\', ' ', '\t', '(', ')', 'a', '@', 'B'];
    let level = [''];
    const wrong: string[] = [];
    for (let len = 1; len <= 6; len++) {
      level = level.flatMap((s) => alphabet.map((c) => s + c));
      for (const v of level) if (normalizeMessageId(v) !== slow(v)) wrong.push(v);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
  });
  it('does not read a Message-ID from the body', () => {
    expect(messageIdOf(b('Subject: x\n\nMessage-ID: <body@x>\n'))).toBeNull();
  });
  it('keeps 8-bit header bytes without corrupting them', () => {
    expect(messageIdOf(b('Subject: \xe9t\xe9\nMessage-ID: <\xe9@x>\n\n'))).toBe('<\xe9@x>');
  });
});

describe('headerValues: several headers in one pass', () => {
  it('gives what headerValue gives, name by name, on every fixture message', () => {
    const dir = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/messages');
    const names = ['message-id', 'received', 'date', 'subject', 'from', 'x-missing'];
    for (const f of readdirSync(dir)) {
      const block = headerBlock(readFileSync(join(dir, f)));
      const v = headerValues(block, names);
      for (const n of names) expect(v.get(n) ?? null, `${f} ${n}`).toBe(headerValue(block, n));
    }
    const folded = Buffer.from('Received: from a\r\n\tby b; Thu, 05 Sep 2024 08:00:01 +0200\r\nReceived: second\r\nMESSAGE-ID: <X@Y>\r\n\r\nMessage-ID: <body@z>\r\n');
    expect(Object.fromEntries(headerValues(headerBlock(folded), ['received', 'message-id']))).toEqual({ received: 'from a \tby b; Thu, 05 Sep 2024 08:00:01 +0200', 'message-id': '<X@Y>' });
  });
});

describe('a Message-ID longer than a header line may be', () => {
  it('counts as none (the message is then known by its bytes): no ref holds megabytes a server sent', () => {
    const long = `<${'a'.repeat(2 << 20)}@x>`;
    expect(normalizeMessageId(long)).toBeNull();
    expect(messageIdOf(Buffer.from(`Message-ID: ${long}\r\n\r\nbody`))).toBeNull();
    const max = `<${'a'.repeat(996 - 4)}@x.y>`;
    expect(max.length).toBe(998);
    expect(normalizeMessageId(max)).toBe(max);
    expect(normalizeMessageId(max + ' ')).toBeNull();
    expect(identityBeforeBody(normalizeMessageId(long), 'message-id')).toBeNull();
  });
});

describe('identity', () => {
  it('uses the Message-ID, else a digest that ignores line endings and trailing newlines', () => {
    expect(identityBeforeBody('<a@b>', 'message-id')).toBe('mid:<a@b>');
    expect(identityBeforeBody(null, 'message-id')).toBeNull();
    expect(identityBeforeBody('<a@b>', 'content')).toBeNull();
    const lf = contentIdentity(b('A: 1\n\nbody\n'));
    expect(contentIdentity(b('A: 1\r\n\r\nbody\r\n'))).toBe(lf);
    expect(contentIdentity(b('A: 1\n\nbody'))).toBe(lf);
    expect(contentIdentity(b('A: 1\n\nbody!\n'))).not.toBe(lf);
    expect(identityOfBody(null, b('x'), 'message-id')).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('keeps apart what differs only in trailing blank lines (a second copy is not a duplicate)', () => {
    const one = contentIdentity(b('A: 1\n\nbody\n'));
    const two = contentIdentity(b('A: 1\n\nbody\n\n'));
    const three = contentIdentity(b('A: 1\r\n\r\nbody\r\n\r\n\r\n'));
    expect(new Set([one, two, three]).size).toBe(3);
    expect(contentIdentity(b('A: 1\r\n\r\nbody\r\n\r\n'))).toBe(two);
    // Unchanged for one final newline or none, as journals of earlier versions recorded them.
    expect(one).toBe('sha256:' + createHash('sha256').update(b('A: 1\n\nbody')).digest('hex'));
  });

  it('is the same for a message as stored and as Dovecot serves it back (NUL as 0x80, CR CR LF as CR LF)', () => {
    expect(contentIdentity(b('A: 1\n\na\x00b\n'))).toBe(contentIdentity(b('A: 1\r\n\r\na\x80b\r\n')));
    expect(contentIdentity(b('A: 1\n\na\r\r\nb\n'))).toBe(contentIdentity(b('A: 1\r\n\r\na\r\nb\r\n')));
    // A CR at the very end is dropped as the message is stored; one inside stays.
    expect(contentIdentity(b('A: 1\n\nbody\r'))).toBe(contentIdentity(b('A: 1\r\n\r\nbody')));
    expect(contentIdentity(b('A: 1\n\nbody\n\n\r'))).toBe(contentIdentity(b('A: 1\n\nbody\n\n')));
    expect(contentIdentity(b('A: 1\n\nbo\rdy'))).not.toBe(contentIdentity(b('A: 1\n\nbody')));
    const body = b('A: 1\n\na\x00b\n');
    contentIdentity(body);
    expect(body.includes(0)).toBe(true); // the message itself is not changed
  });

  it("is the same for a message as mbsync stores it: its X-TUID header lines count as none, in the header only", () => {
    const original = b('From: a@b\r\nSubject: s\r\n\r\nbody\r\n');
    const id = contentIdentity(original);
    expect(contentIdentity(b('From: a@b\nSubject: s\nX-TUID: 2Vd9Jc3hdCxr\n\nbody\n'))).toBe(id);
    expect(contentIdentity(b('X-TUID: 2Vd9Jc3hdCxr\r\nFrom: a@b\r\nSubject: s\r\n\r\nbody\r\n'))).toBe(id);
    expect(contentIdentity(b('From: a@b\nx-tuid: abc\nSubject: s\n\nbody\n'))).toBe(id);
    // Anything else still tells messages apart: a line of the body, a header of another name.
    expect(contentIdentity(b('From: a@b\nSubject: s\n\nX-TUID: 2Vd9Jc3hdCxr\nbody\n'))).not.toBe(id);
    expect(contentIdentity(b('From: a@b\nSubject: s\nX-TUIDS: 1\n\nbody\n'))).not.toBe(id);
    const stored = b('From: a@b\nX-TUID: 2Vd9Jc3hdCxr\n\nbody\n');
    contentIdentity(stored);
    expect(stored.toString()).toContain('X-TUID'); // the message itself is not changed
  });
});

describe('HeaderFields: the fields read as a header streams by', () => {
  const names = ['message-id', 'received', 'date'];
  /** What the whole message gives, read at once. */
  const whole = (m: Buffer) => Object.fromEntries(names.map((n) => [n, headerValue(headerBlock(m), n)]));
  /** What HeaderFields gives, fed in pieces of `step` bytes through one reused buffer. */
  const streamed = (m: Buffer, step: number) => {
    const f = new HeaderFields(names);
    const buf = Buffer.alloc(step);
    for (let at = 0; at < m.length && !f.done; at += step) {
      const n = m.copy(buf, 0, at, at + step);
      f.feed(buf.subarray(0, n));
    }
    const block = f.block();
    return { block, values: Object.fromEntries(names.map((n) => [n, headerValue(block, n)])) };
  };

  it('gives what the whole header gives, however it is cut into pieces, in a block of a few lines', () => {
    const pad = `X-Pad: ${'z'.repeat(200)}\r\n`.repeat(2000);
    const messages = [
      b(`${pad}Received: from a\r\n\tby b; Thu, 05 Sep 2024 08:00:01 +0200\r\nReceived: second\r\nMessage-ID:\r\n <late@X.org>\r\nDate: Tue, 1 Oct 2024 10:00:00 +0000\r\n\r\nMessage-ID: <body@x>\r\n`),
      b('Subject: x\nmessage-ID:\n  <abc@Example.COM>\nMessage-ID: <second@x>\n\nbody'),
      b('From: a@x\nSubject: mixed\n\r\nMessage-ID: <in-body@x>\nbody\n'),
      b('\nMessage-ID: <after-empty-first-line@x>\n'),
      b('\r\nMessage-ID: <after-empty-first-line@x>\r\n'),
      b('Message-ID: <no-newline-at-the-end@x>'),
      b(`Message-ID: <${'x'.repeat(20000)}@long>\r\nDate: Tue, 1 Oct 2024 10:00:00 +0000\r\n\r\n`),
      b(' continued-first\r\nMessage-ID: <a@b>\r\n'),
      b('Message-ID : <space-before-colon@x>\r\nMessage-ID: <real@x>\r\n\r\n'),
      b(''),
      // Past 8 KB of the field: what both read is its first 8 KB, whether the id lies beyond (none) or before.
      b(`Subject: t\nMessage-ID:${'\n '.repeat(5000)}\n <ws@example.org>\n\nbody\n`),
      b(`Message-ID: <id@x>${' '.repeat(9000)}(c)\n\nbody\n`),
      b(`Message-ID:${' '.repeat(10000)}<id@x>\r\n\r\nbody\r\n`),
      b(`Message-ID: <cut@x>${'\r\n '.repeat(2729)}x\r\n\r\n`),
    ];
    for (const [i, m] of messages.entries()) {
      for (const step of [1, 2, 3, 7, 64, 1000, 16384, m.length || 1]) {
        const s = streamed(m, step);
        expect(s.values, `message ${i}, pieces of ${step}`).toEqual(whole(m));
        expect(messageIdOf(s.block), `message ${i}, pieces of ${step}`).toBe(messageIdOf(m));
        expect(s.block.length).toBeLessThan(3 * 8200);
      }
    }
  });
});
