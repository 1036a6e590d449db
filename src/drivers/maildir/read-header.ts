/**
 * The Message-ID of a Maildir file: its header read in 16 KiB steps to the first empty line, in
 * bounded memory whatever its length (mail/header-fields.ts), so a Message-ID after hundreds of
 * kilobytes of other fields is found as an IMAP server finds it. A file without an empty line is
 * all header; reading stops at MAX_SCAN. A symbolic link is not followed (ELOOP): a link planted
 * in a Maildir can point anywhere. Nor is anything but a regular file read (ENOTREG): a FIFO
 * planted there would block the open, and the read, for ever. A compressed file (compressed.ts)
 * is read as the message it holds.
 */
import { promises as fs, constants as C } from 'node:fs';
import { HeaderFields } from '../../mail/header-fields.js';
import { messageIdOf } from '../../mail/headers.js';
import { compressionOf, decompressed, gzipSize, MAGIC_BYTES, messageChunks } from './compressed.js';

const HEADER_READ = 16 * 1024;
/** A header is not read past this (no mail has one; a file of hundreds of megabytes without an empty line is all header). */
const MAX_SCAN = 64 * 1024 * 1024;

/** Opens a file of a Maildir to read: never through a link (ELOOP), never anything but a regular file (ENOTREG). */
export async function openMaildirFile(path: string): Promise<fs.FileHandle> {
  const fh = await fs.open(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw Object.assign(new Error(`${path} is not a regular file`), { code: 'ENOTREG' });
  }
  return fh;
}

/** The whole of a Maildir file, opened as openMaildirFile opens it; `max`: no more than that is read. */
export async function readMaildirFile(path: string, max?: number): Promise<Buffer> {
  const fh = await openMaildirFile(path);
  try {
    if (max === undefined) return await fh.readFile();
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The Message-ID of a Maildir file (of the message it holds, when it is compressed: compressed.ts). */
export async function readMessageId(path: string): Promise<string | null> {
  return (await readHead(path)).messageId;
}

/**
 * The Message-ID of a Maildir file, and for a compressed one the size of the message it holds
 * (a gzip file's trailer says it; the file's own size is not the message's).
 */
export async function readHead(path: string): Promise<{ messageId: string | null; size?: number }> {
  const fh = await openMaildirFile(path);
  try {
    const fields = new HeaderFields(['message-id']);
    const chunk = Buffer.alloc(HEADER_READ);
    const { bytesRead } = await fh.read(chunk, 0, HEADER_READ, 0);
    const kind = compressionOf(chunk.subarray(0, Math.min(bytesRead, MAGIC_BYTES)));
    if (kind !== undefined) {
      const tail = Buffer.alloc(4);
      const { size } = await fh.stat();
      await fh.read(tail, 0, 4, Math.max(0, size - 4));
      let seen = 0;
      for await (const part of messageChunks(fileChunks(fh, chunk.subarray(0, bytesRead)))) {
        seen += part.length;
        if (fields.feed(part) || seen >= MAX_SCAN) break;
      }
      return { messageId: messageIdOf(fields.block()), size: gzipSize(tail) };
    }
    if (bytesRead > 0 && !fields.feed(chunk.subarray(0, bytesRead))) {
      for (let at = bytesRead; at < MAX_SCAN; ) {
        const { bytesRead: n } = await fh.read(chunk, 0, HEADER_READ, at);
        if (n === 0) break;
        at += n;
        if (fields.feed(chunk.subarray(0, n))) break;
      }
    }
    return { messageId: messageIdOf(fields.block()) };
  } finally {
    await fh.close();
  }
}

/** A file's chunks from its start: `first` (already read), then the rest, read on (the caller closes the handle). */
async function* fileChunks(fh: fs.FileHandle, first: Buffer): AsyncIterable<Buffer> {
  yield first;
  for (let at = first.length; ; ) {
    const buf = Buffer.alloc(HEADER_READ);
    const { bytesRead } = await fh.read(buf, 0, HEADER_READ, at);
    if (bytesRead === 0) return;
    at += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

/**
 * The message a Maildir file holds, as readMessageFile, or null when it is larger than `max`
 * bytes (the file, or what it holds compressed): not read whole, so a sparse file of gigabytes or
 * a gzip bomb planted in a Maildir costs at most `max` bytes of memory.
 */
export async function readMessageWithin(path: string, max: number): Promise<Buffer | null> {
  const fh = await openMaildirFile(path);
  let file: Buffer;
  try {
    if ((await fh.stat()).size > max) return null;
    file = await fh.readFile();
  } finally {
    await fh.close();
  }
  if (file.length > max) return null; // grown since the stat
  // A gzip file says how much it holds (its trailer): over `max`, not inflated at all.
  if (compressionOf(file.subarray(0, MAGIC_BYTES)) === 'gzip' && gzipSize(file.subarray(-4)) > max) return null;
  try {
    return await decompressed(file, max);
  } catch (err) {
    // zlib's "Cannot create a Buffer larger than maxOutputLength".
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) return null;
    throw err;
  }
}

/**
 * The message a Maildir file holds: the file, or what it holds compressed (compressed.ts), at
 * most `max` bytes of it. Never through a link (ELOOP); `strict`: nor anything but a regular
 * file (one more fstat, which the source spares: its listing saw a regular file).
 */
export async function readMessageFile(path: string, max: number, strict = true): Promise<Buffer> {
  const file = strict ? await readMaildirFile(path) : await fs.readFile(path, { flag: C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK });
  return decompressed(file, max);
}
