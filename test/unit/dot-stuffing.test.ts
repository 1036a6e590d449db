import { describe, expect, it } from 'vitest';
import { random as rng } from '../harness/random.js';
import {
  MultilineDecoder,
  decodeMultiline,
  dotStuff,
  encodeMultiline,
} from '../../src/mail/dot-stuffing.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const cat = (...parts: (Buffer | string)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? b(p) : p)));

/** Bytes the next (pipelined) response starts with; must come back as `rest`. */
const NEXT = b('+OK next\r\n\xff');

/** Feed `chunks` to a fresh decoder; return the decoded body and every byte handed back after it. */
function decodeChunks(chunks: Buffer[]): { body: Buffer; rest: Buffer; done: boolean } {
  const dec = new MultilineDecoder();
  const out: Buffer[] = [];
  const rest: Buffer[] = [];
  for (const c of chunks) {
    const r = dec.push(c);
    out.push(...r.chunks);
    rest.push(r.rest);
    expect(r.done).toBe(dec.done);
  }
  const body = Buffer.concat(out);
  expect(dec.bytes).toBe(body.length);
  return { body, rest: Buffer.concat(rest), done: dec.done };
}

/** What a message reads as after the round trip: a server ends the last line before the ".". */
function expectedBody(msg: Buffer): Buffer {
  return msg.length > 0 && msg[msg.length - 1] !== 0x0a ? cat(msg, '\r\n') : msg;
}

function splitAt(buf: Buffer, points: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}


const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

const MESSAGES: Record<string, Buffer> = {
  'empty body': Buffer.alloc(0),
  'plain CRLF message': b('From: a@example.org\r\nSubject: hi\r\n\r\nHello.\r\n'),
  '8-bit and invalid UTF-8': cat(
    'Subject: =?x?= caf\xe9\r\n\r\n',
    Buffer.from([0x80, 0x81, 0xfe, 0xff, 0xc3, 0x28, 0xe2, 0x82, 0x0d, 0x0a]),
    Buffer.from([0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0xc0, 0xaf, 0x0d, 0x0a]),
    allBytes,
    '\r\n',
  ),
  'dot lines at start': b('.\r\n..\r\n...\r\nbody\r\n'),
  'dot lines in the middle': b('H: v\r\n\r\na\r\n.\r\nb\r\n..\r\nc\r\n...\r\nd\r\n.x\r\n'),
  'dot lines at the end': b('a\r\n.\r\n..\r\n...\r\n'),
  'ends with a lone dot line': b('a\r\n.\r\n'),
  'dots not at line start': b('a.b\r\nc..\r\nx\r.\r\n'),
  'final line without newline': b('Subject: x\r\n\r\nno newline at the end'),
  'final line is a dot without newline': b('a\r\n.'),
  'final line is dots without newline': b('a\r\n...'),
  'only a dot': b('.'),
  'only a CRLF': b('\r\n'),
  'ends with a lone CR': b('a\r\nb\r'),
  'dot then CR then other': b('.\rx\r\n.\r.\r\n'),
  'bare LF lines with dots': b('a\n.\n..\nb\n'),
  'terminator look-alikes inside': b('x\r\n.\r \r\n\r\n.\r\r\n \r\n.\r\n.\r\nz\r\n'),
  'all 256 byte values, 3 times': cat(allBytes, allBytes, allBytes),
};

// Fuzzed messages from an alphabet heavy on the bytes that matter here.
{
  const next = rng(1939);
  const alphabet = [0x2e, 0x2e, 0x2e, 0x0d, 0x0a, 0x0d, 0x0a, 0x61, 0x80, 0xff, 0x00];
  for (let k = 0; k < 40; k++) {
    const len = Math.floor(next() * 48);
    const bytes = Array.from({ length: len }, () => alphabet[Math.floor(next() * alphabet.length)]!);
    MESSAGES[`fuzz #${k}`] = Buffer.from(bytes);
  }
}

describe('dotStuff / encodeMultiline', () => {
  it('doubles dots at line starts only', () => {
    expect(dotStuff(b('.a\r\n..b\r\nc.d\r\n.\n.'))).toEqual(b('..a\r\n...b\r\nc.d\r\n..\n..'));
    expect(dotStuff(Buffer.alloc(0))).toEqual(Buffer.alloc(0));
  });

  it('ends the body with CRLF when needed and appends the terminator', () => {
    expect(encodeMultiline(Buffer.alloc(0))).toEqual(b('.\r\n'));
    expect(encodeMultiline(b('a'))).toEqual(b('a\r\n.\r\n'));
    expect(encodeMultiline(b('a\r\n'))).toEqual(b('a\r\n.\r\n'));
    expect(encodeMultiline(b('.'))).toEqual(b('..\r\n.\r\n'));
  });
});

describe('MultilineDecoder', () => {
  for (const [name, msg] of Object.entries(MESSAGES)) {
    describe(name, () => {
      const wire = cat(encodeMultiline(msg), NEXT);
      const want = expectedBody(msg);

      it('decodes in one chunk', () => {
        const r = decodeChunks([wire]);
        expect(r.done).toBe(true);
        expect(r.body.equals(want)).toBe(true);
        expect(r.rest.equals(NEXT)).toBe(true);
      });

      it('decodes at every single split point', () => {
        for (let i = 0; i <= wire.length; i++) {
          const r = decodeChunks(splitAt(wire, [i]));
          expect(r.done, `split at ${i}`).toBe(true);
          expect(r.body.equals(want), `split at ${i}`).toBe(true);
          expect(r.rest.equals(NEXT), `split at ${i}`).toBe(true);
        }
      });

      it('decodes in 1-byte chunks', () => {
        const chunks = Array.from({ length: wire.length }, (_, i) => wire.subarray(i, i + 1));
        const r = decodeChunks(chunks);
        expect(r.body.equals(want)).toBe(true);
        expect(r.rest.equals(NEXT)).toBe(true);
      });

      if (wire.length <= 40) {
        it('decodes at every pair of split points (with empty chunks)', () => {
          for (let i = 0; i <= wire.length; i++) {
            for (let j = i; j <= wire.length; j++) {
              const r = decodeChunks(splitAt(wire, [i, j]));
              expect(r.body.equals(want), `split at ${i},${j}`).toBe(true);
              expect(r.rest.equals(NEXT), `split at ${i},${j}`).toBe(true);
            }
          }
        });
      }
    });
  }

  it('does not finish before the terminator, whatever the split', () => {
    const wire = encodeMultiline(b('a\r\n..\r\n.\r\n'));
    for (let i = 0; i < wire.length; i++) {
      const dec = new MultilineDecoder();
      dec.push(wire.subarray(0, i));
      expect(dec.done, `prefix of ${i} bytes`).toBe(false);
    }
  });

  it('splits inside "\\r\\n.\\r\\n" and "\\r\\n.." are covered explicitly', () => {
    const wire = b('x\r\n..y\r\n..\r\n.\r\n+OK');
    const term = wire.indexOf(b('\r\n.\r\n'));
    const stuffed = wire.indexOf(b('\r\n..'));
    for (const base of [term, stuffed]) {
      for (let k = 0; k <= 5; k++) {
        const r = decodeChunks(splitAt(wire, [base + k]));
        expect(r.body).toEqual(b('x\r\n.y\r\n.\r\n'));
        expect(r.rest).toEqual(b('+OK'));
      }
    }
  });

  it('tolerates a bare-LF terminator from broken servers', () => {
    for (const wire of [b('a\n.\nNEXT'), b('a\r\n.\nNEXT'), b('.\nNEXT')]) {
      for (let i = 0; i <= wire.length; i++) {
        const r = decodeChunks(splitAt(wire, [i]));
        expect(r.done).toBe(true);
        expect(r.body).toEqual(wire.subarray(0, wire.indexOf(b('.\n'))));
        expect(r.rest).toEqual(b('NEXT'));
      }
    }
  });

  it('passes unstuffed ".x" and ".\\rx" lines (never sent by a conforming server) through unchanged', () => {
    const cases: Array<[Buffer, Buffer]> = [
      [b('.x\r\n.\r\n+OK'), b('.x\r\n')],
      [b('a\r\n.\rx\r\n.\r\n+OK'), b('a\r\n.\rx\r\n')],
      [b('.\r.\r\n.\r\n+OK'), b('.\r.\r\n')],
      [b('.\r\r\n.\r\n+OK'), b('.\r\r\n')],
    ];
    for (const [wire, want] of cases) {
      for (let i = 0; i <= wire.length; i++) {
        const r = decodeChunks(splitAt(wire, [i]));
        expect(r.body, `split at ${i}`).toEqual(want);
        expect(r.rest, `split at ${i}`).toEqual(b('+OK'));
      }
    }
  });

  it('hands every byte pushed after the terminator back as rest', () => {
    const dec = new MultilineDecoder();
    expect(dec.push(b('a\r\n.\r\nB')).rest).toEqual(b('B'));
    const again = dec.push(b('CD'));
    expect(again).toEqual({ chunks: [], done: true, rest: b('CD') });
  });

  it('returns null from decodeMultiline without a terminator', () => {
    expect(decodeMultiline(b('a\r\n.\r'))).toBeNull();
  });

  it('reset() starts a new response', () => {
    const dec = new MultilineDecoder();
    dec.push(b('a\r\n.\r\n'));
    dec.reset();
    expect(dec.done).toBe(false);
    const r = dec.push(b('..b\r\n.\r\n'));
    expect(Buffer.concat(r.chunks)).toEqual(b('.b\r\n'));
  });

  it('decodes a large body without copying it byte by byte', () => {
    const line = Buffer.alloc(998, 0xe9);
    const msg = Buffer.concat(Array.from({ length: 2000 }, () => Buffer.concat([line, b('\r\n')])));
    const wire = encodeMultiline(msg);
    const dec = new MultilineDecoder();
    const r = dec.push(wire);
    expect(r.chunks.length).toBe(1);
    expect(r.chunks[0]!.buffer).toBe(wire.buffer);
    expect(Buffer.concat(r.chunks).equals(msg)).toBe(true);
  });
});
