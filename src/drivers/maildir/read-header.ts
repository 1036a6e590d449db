/**
 * The Message-ID of a Maildir file: its header read in 16 KiB steps to the first empty line, in
 * bounded memory whatever its length (mail/header-fields.ts), so a Message-ID after hundreds of
 * kilobytes of other fields is found as an IMAP server finds it. A file without an empty line is
 * all header; reading stops at MAX_SCAN. A symbolic link is not followed (ELOOP): a link planted
 * in a Maildir can point anywhere. Nor is anything but a regular file read (ENOTREG): a FIFO
 * planted there would block the open, and the read, for ever.
 */
import { promises as fs, constants as C } from 'node:fs';
import { HeaderFields } from '../../mail/header-fields.js';
import { messageIdOf } from '../../mail/headers.js';

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

export async function readMessageId(path: string): Promise<string | null> {
  const fh = await openMaildirFile(path);
  try {
    const fields = new HeaderFields(['message-id']);
    const chunk = Buffer.alloc(HEADER_READ);
    for (let at = 0; at < MAX_SCAN; ) {
      const { bytesRead } = await fh.read(chunk, 0, HEADER_READ, at);
      if (bytesRead === 0) break;
      at += bytesRead;
      if (fields.feed(chunk.subarray(0, bytesRead))) break;
    }
    return messageIdOf(fields.block());
  } finally {
    await fh.close();
  }
}
