import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { headerBlock, headerValue, headerValues, messageIdOf, normalizeMessageId } from '../../src/mail/headers.js';
import { contentIdentity, identityBeforeBody, identityOfBody } from '../../src/engine/identity.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('header block and Message-ID', () => {
  it('finds the header block with LF or CRLF endings', () => {
    expect(headerBlock(b('A: 1\nB: 2\n\nbody\n\nmore')).toString()).toBe('A: 1\nB: 2\n');
    expect(headerBlock(b('A: 1\r\n\r\nbody')).toString()).toBe('A: 1\r\n');
    expect(headerBlock(b('\nbody')).length).toBe(0);
    expect(headerBlock(b('A: 1\nno body')).toString()).toBe('A: 1\nno body');
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
    const body = b('A: 1\n\na\x00b\n');
    contentIdentity(body);
    expect(body.includes(0)).toBe(true); // the message itself is not changed
  });
});
