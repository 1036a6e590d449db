/**
 * Message files that Dovecot's zlib plugin stored compressed (`mail_plugins = zlib`,
 * `zlib_save = gz`; or compressed later by hand, as Dovecot's documentation shows). Dovecot knows
 * them by their first bytes, whatever the name says, and so does mailferry: gzip is read as the
 * message it holds; bzip2, xz, zstd and Dovecot's lz4 are named and refused, so such a message
 * fails alone (exit 6) and never arrives as compressed bytes. No message starts with these
 * bytes: a header field name is printable ASCII up to a colon.
 */
import { createGunzip, gunzip } from 'node:zlib';
import { Readable, pipeline } from 'node:stream';
import { promisify } from 'node:util';

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'lz4';

/** Bytes needed to tell a compressed file (compressionOf). */
export const MAGIC_BYTES = 12;

const XZ = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ZSTD = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
/** Dovecot's own lz4 container (lib-compression/iostream-lz4.h). */
const DOVECOT_LZ4 = Buffer.from('Dovecot-LZ4\r', 'latin1');
/** bzip2: "BZh", the block size digit, then the first block's magic (BCD pi) or the end-of-stream magic (an empty stream). */
const BZ_BLOCK = Buffer.from([0x31, 0x41, 0x59, 0x26, 0x53, 0x59]);
const BZ_END = Buffer.from([0x17, 0x72, 0x45, 0x38, 0x50, 0x90]);

/** How a file that starts with `head` (its first MAGIC_BYTES bytes, or all of a shorter file) is compressed, if it is. */
export function compressionOf(head: Buffer): Compression | undefined {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.subarray(0, 6).equals(XZ)) return 'xz';
  if (head.subarray(0, 4).equals(ZSTD)) return 'zstd';
  if (head.subarray(0, DOVECOT_LZ4.length).equals(DOVECOT_LZ4)) return 'lz4';
  if (head.length >= 10 && head.toString('latin1', 0, 3) === 'BZh' && head[3]! >= 0x31 && head[3]! <= 0x39) {
    const block = head.subarray(4, 10);
    if (block.equals(BZ_BLOCK) || block.equals(BZ_END)) return 'bzip2';
  }
  return undefined;
}

/** The error for a file compressed in a way mailferry does not read (code ECOMPRESSED). */
export function unreadableCompression(kind: Compression): Error {
  return Object.assign(new Error(`the message file is compressed with ${kind}, which mailferry does not read (gzip only); decompress it first`), { code: 'ECOMPRESSED' });
}

const gunzipAsync = promisify(gunzip);

/**
 * The message a whole file holds: itself, or its gzip content (at most `max` bytes, else a
 * RangeError: a small file can inflate to any size). Other compressions throw ECOMPRESSED.
 */
export async function decompressed(file: Buffer, max: number): Promise<Buffer> {
  const kind = compressionOf(file.subarray(0, MAGIC_BYTES));
  if (kind === undefined) return file;
  if (kind !== 'gzip') throw unreadableCompression(kind);
  return gunzipAsync(file, { maxOutputLength: max });
}

/**
 * The uncompressed size a gzip file says it holds (its trailer: the size modulo 2^32, so right
 * below 4 GiB, which a message is). `tail`: the file's last 4 bytes.
 */
export function gzipSize(tail: Buffer): number {
  return tail.length === 4 ? tail.readUInt32LE(0) : 0;
}

/** The chunks of a file (`raw`, from its first byte) as the message: gunzipped when it is gzip. */
export async function* messageChunks(raw: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const it = raw[Symbol.asyncIterator]();
  try {
    // The first bytes, enough to tell (a file's first read holds them, unless it is shorter).
    const head: Buffer[] = [];
    let length = 0;
    for (let r; length < MAGIC_BYTES && !(r = await it.next()).done; length += r.value.length) head.push(r.value);
    if (length === 0) return;
    const kind = compressionOf(Buffer.concat(head).subarray(0, MAGIC_BYTES));
    if (kind !== undefined && kind !== 'gzip') throw unreadableCompression(kind);
    const all = async function* () {
      yield* head;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    };
    if (kind === undefined) return yield* all();
    const z = createGunzip();
    // pipeline: an error on either side ends both.
    pipeline(Readable.from(all(), { objectMode: false }), z, () => {});
    yield* z as AsyncIterable<Buffer>;
  } finally {
    // The file's reader is closed however this ends (read to the end, an error, the reader stopping early).
    await it.return?.();
  }
}
