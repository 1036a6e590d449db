/**
 * The Message-ID of a Maildir file: its header read in 16 KiB steps to the first empty line, in
 * bounded memory whatever its length (mail/header-fields.ts), so a Message-ID after hundreds of
 * kilobytes of other fields is found as an IMAP server finds it. A file without an empty line is
 * all header; reading stops at MAX_SCAN. A symbolic link is not followed (ELOOP): a link planted
 * in a Maildir can point anywhere.
 */
import { promises as fs, constants as C } from 'node:fs';
import { HeaderFields } from '../../mail/header-fields.js';
import { messageIdOf } from '../../mail/headers.js';

const HEADER_READ = 16 * 1024;
/** A header is not read past this (no mail has one; a file of hundreds of megabytes without an empty line is all header). */
const MAX_SCAN = 64 * 1024 * 1024;

export async function readMessageId(path: string): Promise<string | null> {
  const fh = await fs.open(path, C.O_RDONLY | C.O_NOFOLLOW);
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
