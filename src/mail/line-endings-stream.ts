/** Line-ending conversion over a byte stream: the same result as line-endings.ts at any chunk split. */
import { crlfToLf, lfToCrlf } from './line-endings.js';

const CR = 0x0d;
const LF = 0x0a;

/**
 * CRLF → LF across chunks, equal to crlfToLf of the whole. Whether a CRLF is converted depends on
 * the byte before its CR ("\r\r\n" is kept), so the run of CRs ending a chunk waits for the next.
 */
export async function* crlfToLfStream(src: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  let held: Buffer = Buffer.alloc(0);
  for await (const raw of src) {
    if (raw.length === 0) continue;
    const chunk = held.length > 0 ? Buffer.concat([held, raw]) : raw;
    let end = chunk.length;
    while (end > 0 && chunk[end - 1] === CR) end--;
    held = chunk.subarray(end);
    if (end > 0) yield crlfToLf(chunk.subarray(0, end));
  }
  if (held.length > 0) yield held;
}

/** Bare LF → CRLF across chunks: whether the byte before a chunk's first LF was a CR is carried over. */
export async function* lfToCrlfStream(src: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  let lastWasCr = false;
  for await (const chunk of src) {
    if (chunk.length === 0) continue;
    let out = lfToCrlf(chunk);
    if (chunk[0] === LF && !lastWasCr) {
      // lfToCrlf saw this LF as bare already (nothing before it in the chunk): correct.
    } else if (chunk[0] === LF && lastWasCr) {
      // The LF completes a CRLF split across chunks: lfToCrlf added a CR it must not have.
      out = out.subarray(1);
    }
    lastWasCr = chunk[chunk.length - 1] === CR;
    yield out;
  }
}
