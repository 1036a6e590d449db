// How imapflow (as patched in patches/) puts a MULTIAPPEND on the wire: with LITERAL+, every
// literal goes in the command itself, and the command was one buffer, so a batch of large
// messages was copied once more while it was sent. The data of a large literal is now a frame
// of its own, the message's own buffer; small pieces are still joined (one write, not many).
import { describe, expect, it } from 'vitest';
import compiler from 'imapflow/lib/handler/imap-compiler.js';

/** Its parts: a buffer, or (patched) the frames of a part with large literal data. */
const compile = (attributes: unknown[]): Array<Buffer | Buffer[]> =>
  compiler({ tag: 'A1', command: 'APPEND', attributes: attributes as never }, { asArray: true, literalPlus: true }) as unknown as Array<Buffer | Buffer[]>;

describe('an APPEND with LITERAL+, compiled for the socket', () => {
  it("keeps a large message's buffer as a frame of its own, and joins the rest", () => {
    const big = Buffer.alloc(200 * 1024, 0x61);
    const small = Buffer.from('Subject: small\r\n\r\nsmall\r\n');
    const [part, ...more] = compile([{ type: 'ATOM', value: 'INBOX' }, [], { type: 'LITERAL', value: small }, [], { type: 'LITERAL', value: big }]);
    expect(more).toEqual([]);
    expect(Array.isArray(part)).toBe(true);
    const frames = part as Buffer[];
    expect(frames).toHaveLength(2);
    expect(frames[1]).toBe(big); // the same buffer, not a copy
    expect(frames[0]!.toString('latin1')).toBe(`A1 APPEND INBOX () {${small.length}+}\r\n${small.toString('latin1')} () {${big.length}+}\r\n`);
  });

  it('is one buffer when no literal is large', () => {
    const small = Buffer.from('Subject: small\r\n\r\nsmall\r\n');
    const [part] = compile([{ type: 'ATOM', value: 'INBOX' }, [], { type: 'LITERAL', value: small }]);
    expect(Buffer.isBuffer(part)).toBe(true);
  });
});
