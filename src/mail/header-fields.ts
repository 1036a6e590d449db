/**
 * The few header fields mailferry reads (Message-ID; for POP3 also Received and Date), taken from
 * a header of any length as it streams by, in bounded memory. A header is read to its end as an
 * IMAP server reads it for `BODY[HEADER.FIELDS (MESSAGE-ID)]`: a Message-ID after 300 KB of other
 * fields must be found on both sides of a copy, or the two sides know the message by different
 * identities (a Message-ID on one, a digest on the other) and a rebuild from the destination
 * stores it again.
 *
 * `block()` is a small header block of the first field of each name (with its folded lines, at
 * most MAX_FIELD bytes of it), which `headerValues`/`messageIdOf` read like the whole header.
 * Lines are looked at where they lie in the chunk (a listing reads thousands of headers): only a
 * line that goes on in the next chunk, and the fields kept, are copied.
 */
import { MAX_FIELD } from './headers.js';

export class HeaderFields {
  /** The first field of each name, its lines as they came (cut at MAX_FIELD). */
  private readonly kept = new Map<string, Buffer[]>();
  private readonly keptBytes = new Map<string, number>();
  /** The field the current line continues, when it is one kept. */
  private current: string | undefined;
  /** A line that goes on in the next chunk: its first bytes (copied), and its length so far. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private partialLength = 0;
  /** The first character of each name, lower case, to pass over most lines without decoding them. */
  private readonly firsts: Set<number>;
  /** The empty line that ends the header was seen. */
  done = false;

  constructor(private readonly names: readonly string[]) {
    this.firsts = new Set(names.map((n) => n.charCodeAt(0)));
  }

  /** Feeds the next bytes (the caller may reuse the buffer); true once the header has ended. */
  feed(chunk: Buffer): boolean {
    let pos = 0;
    if (this.partialLength > 0) {
      const nl = chunk.indexOf(0x0a);
      const end = nl < 0 ? chunk.length : nl + 1;
      this.addPartial(chunk.subarray(0, end));
      if (nl < 0) return false;
      this.endPartial();
      pos = end;
    }
    while (!this.done && pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      if (nl < 0) {
        this.addPartial(chunk.subarray(pos));
        break;
      }
      this.line(chunk.subarray(pos, nl + 1), nl + 1 - pos);
      pos = nl + 1;
    }
    return this.done;
  }

  /** The kept fields as a header block. */
  block(): Buffer {
    if (!this.done && this.partialLength > 0) this.endPartial();
    const parts: Buffer[] = [];
    for (const lines of this.kept.values()) parts.push(...lines);
    return Buffer.concat(parts);
  }

  private addPartial(piece: Buffer): void {
    this.partialLength += piece.length;
    if (this.partialBytes < MAX_FIELD) {
      const take = Buffer.from(piece.subarray(0, MAX_FIELD - this.partialBytes));
      this.partial.push(take);
      this.partialBytes += take.length;
    }
  }

  private endPartial(): void {
    const line = Buffer.concat(this.partial, this.partialBytes);
    const length = this.partialLength;
    this.partial = [];
    this.partialBytes = 0;
    this.partialLength = 0;
    this.line(line, length);
  }

  /** One line (its first bytes, at least MAX_FIELD of them when it is longer) of `length` bytes. */
  private line(line: Buffer, length: number): void {
    const first = line[0];
    // An empty line ("\n" or "\r\n") ends the header; so does one at the very start.
    if ((length === 1 && first === 0x0a) || (length === 2 && first === 0x0d && line[1] === 0x0a)) {
      this.done = true;
      return;
    }
    if (first === 0x20 || first === 0x09) {
      if (this.current !== undefined) this.keep(this.current, line);
      return;
    }
    this.current = undefined;
    if (first === undefined || !this.firsts.has(first | 0x20)) return;
    const text = line.subarray(0, 64).toString('latin1').toLowerCase();
    for (const name of this.names) {
      if (!this.kept.has(name) && text.startsWith(name) && text.charCodeAt(name.length) === 0x3a) {
        this.current = name;
        this.kept.set(name, []);
        this.keptBytes.set(name, 0);
        this.keep(name, line);
        return;
      }
    }
  }

  private keep(name: string, line: Buffer): void {
    const have = this.keptBytes.get(name)!;
    if (have >= MAX_FIELD) return;
    // Copied: `line` may lie in a buffer the caller reuses.
    let piece = Buffer.from(line.subarray(0, MAX_FIELD - have));
    // A line cut short still ends as a line, so the next field is not read as part of it.
    if (piece.length < line.length || piece[piece.length - 1] !== 0x0a) piece = Buffer.concat([piece, Buffer.from('\n')]);
    this.kept.get(name)!.push(piece);
    this.keptBytes.set(name, have + piece.length);
  }
}
