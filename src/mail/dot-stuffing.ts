/**
 * POP3 multi-line responses (RFC 1939 §3): dot-stuffing and the "." terminator, on bytes only.
 *
 * `MultilineDecoder` is fed the raw bytes that follow a "+OK" status line, in whatever chunks the
 * socket delivers, and hands back the message body with the stuffing removed, as Buffers (mostly
 * zero-copy slices of the input). It never turns bytes into strings, so 8-bit and invalid UTF-8
 * mail survives unchanged. Line endings are passed through exactly as received: converting CRLF
 * is the caller's business.
 *
 * Decisions:
 * - A line starts at the beginning of the response and after every LF, whether or not a CR came
 *   before it. Servers stuff dots after any LF (Dovecot's POP3 server does, and also turns bare
 *   LF into CRLF on the way out), so a body line "." after a bare LF arrives as "..", never ".".
 * - Terminator: "." + CRLF at a line start. Also tolerated: "." + bare LF at a line start (so
 *   "\n.\n" from broken servers ends the response instead of hanging until the idle timeout).
 *   This is safe for the same reason as above: a server that stuffs at every LF can never send a
 *   body line "." there. The CRLF (or LF) *before* the dot belongs to the last body line and is
 *   part of the output; the ".\r\n" itself is not.
 * - A line starting with ".." loses one dot. A line starting with "." followed by anything else
 *   (which a conforming server never sends) is passed through unchanged, dot included.
 * - Bytes after the terminator belong to the next (pipelined) response and are returned in `rest`.
 */

const DOT = 0x2e;
const CR = 0x0d;
const LF = 0x0a;

type State =
  /** At the first byte of a line. */
  | 'lineStart'
  /** Inside a line: copy bytes through until LF. */
  | 'mid'
  /** Saw "." at a line start (held back, not yet emitted). */
  | 'dot'
  /** Saw ".\r" at a line start (both held back). */
  | 'dotCr'
  /** Terminator seen. */
  | 'done';

export interface DecodeResult {
  /** Body bytes decoded from this chunk, in order. May be empty. Slices share memory with the input. */
  chunks: Buffer[];
  /** True once the terminator has been seen (in this or an earlier push). */
  done: boolean;
  /** Bytes after the terminator (the start of the next response); empty when there are none. */
  rest: Buffer;
}

const EMPTY = Buffer.alloc(0);

export class MultilineDecoder {
  private state: State = 'lineStart';
  private produced = 0;

  /** True once the terminator has been seen. */
  get done(): boolean {
    return this.state === 'done';
  }

  /** Body bytes emitted so far. */
  get bytes(): number {
    return this.produced;
  }

  /** Start over for a new response. */
  reset(): void {
    this.state = 'lineStart';
    this.produced = 0;
  }

  /** Feed the next chunk of the response. After the terminator, every byte pushed is `rest`. */
  push(chunk: Buffer): DecodeResult {
    const chunks: Buffer[] = [];
    if (this.state === 'done') return { chunks, done: true, rest: chunk };
    const len = chunk.length;
    let i = 0;
    // Start of the current pass-through run; [runStart, i) is emitted as one slice.
    let runStart = 0;
    const flush = (end: number): void => {
      if (end > runStart) {
        chunks.push(chunk.subarray(runStart, end));
        this.produced += end - runStart;
      }
    };
    const emit = (bytes: Buffer): void => {
      chunks.push(bytes);
      this.produced += bytes.length;
    };

    while (i < len) {
      switch (this.state) {
        case 'mid': {
          const nl = chunk.indexOf(LF, i);
          if (nl < 0) {
            i = len;
          } else {
            i = nl + 1;
            this.state = 'lineStart';
          }
          break;
        }
        case 'lineStart': {
          if (chunk[i] === DOT) {
            flush(i);
            i += 1;
            runStart = i;
            this.state = 'dot';
          } else {
            this.state = 'mid';
          }
          break;
        }
        case 'dot': {
          const b = chunk[i];
          if (b === CR) {
            i += 1;
            runStart = i;
            this.state = 'dotCr';
          } else if (b === LF) {
            // ".\n" at a line start: bare-LF terminator (tolerated, see above).
            this.state = 'done';
            return { chunks, done: true, rest: chunk.subarray(i + 1) };
          } else {
            // ".." → "." (the second dot starts the run), or ".x" passed through as is.
            if (b !== DOT) emit(Buffer.from([DOT]));
            runStart = i;
            this.state = 'mid';
          }
          break;
        }
        case 'dotCr': {
          if (chunk[i] === LF) {
            this.state = 'done';
            return { chunks, done: true, rest: chunk.subarray(i + 1) };
          }
          // ".\r" + something else: not a terminator; give the held-back bytes back.
          emit(Buffer.from([DOT, CR]));
          runStart = i;
          this.state = 'mid';
          break;
        }
      }
    }
    flush(len);
    return { chunks, done: false, rest: EMPTY };
  }
}

/** Dot-stuff a body: double every "." that starts a line (at offset 0 and after every LF). */
export function dotStuff(body: Buffer): Buffer {
  let extra = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === DOT && (i === 0 || body[i - 1] === LF)) extra++;
  }
  if (extra === 0) return Buffer.from(body);
  const out = Buffer.allocUnsafe(body.length + extra);
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const b = body[i];
    if (b === DOT && (i === 0 || body[i - 1] === LF)) out[o++] = DOT;
    out[o++] = b;
  }
  return out;
}

const TERMINATOR = Buffer.from('.\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * The wire form of a multi-line response body, as a server sends it after "+OK ...\r\n":
 * stuffed body, a CRLF if the body does not already end with LF, then ".\r\n".
 * Decoding it gives back the body (plus that added CRLF, if one was added).
 */
export function encodeMultiline(body: Buffer): Buffer {
  const parts = [dotStuff(body)];
  if (body.length > 0 && body[body.length - 1] !== LF) parts.push(CRLF);
  parts.push(TERMINATOR);
  return Buffer.concat(parts);
}

/** One-shot decode of a complete multi-line response; null when the terminator is missing. */
export function decodeMultiline(wire: Buffer): { body: Buffer; rest: Buffer } | null {
  const dec = new MultilineDecoder();
  const r = dec.push(wire);
  if (!r.done) return null;
  return { body: Buffer.concat(r.chunks), rest: r.rest };
}
