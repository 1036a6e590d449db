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
 */

/** Bytes kept of one field: above RFC 5322's 998-character line, so a Message-ID cut here counts as none. */
const MAX_FIELD = 8 * 1024;

export class HeaderFields {
  /** The first field of each name, its lines as they came (cut at MAX_FIELD). */
  private readonly kept = new Map<string, Buffer[]>();
  private readonly keptBytes = new Map<string, number>();
  /** The field the current line continues, when it is one kept. */
  private current: string | undefined;
  /** The current line's first bytes (enough to name it), and its full length so far. */
  private line: Buffer[] = [];
  private lineBytes = 0;
  private lineLength = 0;
  private lines = 0;
  /** The empty line that ends the header was seen. */
  done = false;

  constructor(private readonly names: readonly string[]) {}

  /** Feeds the next bytes; true once the header has ended (the rest need not be fed). */
  feed(chunk: Buffer): boolean {
    let pos = 0;
    while (!this.done && pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl < 0 ? chunk.length : nl + 1;
      const piece = chunk.subarray(pos, end);
      this.lineLength += piece.length;
      if (this.lineBytes < MAX_FIELD) {
        const take = piece.subarray(0, MAX_FIELD - this.lineBytes);
        // A line that goes on in the next chunk is copied: the caller may reuse its buffer.
        this.line.push(nl < 0 ? Buffer.from(take) : take);
        this.lineBytes += take.length;
      }
      pos = end;
      if (nl >= 0) this.endLine();
    }
    return this.done;
  }

  /** The kept fields as a header block. */
  block(): Buffer {
    if (!this.done && this.lineLength > 0) this.endLine();
    const parts: Buffer[] = [];
    for (const lines of this.kept.values()) parts.push(...lines);
    return Buffer.concat(parts);
  }

  private endLine(): void {
    const line = Buffer.concat(this.line, this.lineBytes);
    const length = this.lineLength;
    this.line = [];
    this.lineBytes = 0;
    this.lineLength = 0;
    this.lines++;
    // An empty line ("\n" or "\r\n") ends the header; so does one at the very start.
    if ((length === 1 && line[0] === 0x0a) || (length === 2 && line[0] === 0x0d && line[1] === 0x0a)) {
      this.done = true;
      return;
    }
    if (line[0] === 0x20 || line[0] === 0x09) {
      if (this.current !== undefined) this.keep(this.current, line);
      return;
    }
    this.current = undefined;
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
    let piece = line.subarray(0, MAX_FIELD - have);
    // A line cut short still ends as a line, so the next field is not read as part of it.
    if (piece.length < line.length || piece[piece.length - 1] !== 0x0a) piece = Buffer.concat([piece, Buffer.from('\n')]);
    this.kept.get(name)!.push(piece);
    this.keptBytes.set(name, have + piece.length);
  }
}
