/**
 * The header block of a Maildir file, read in 16 KiB steps up to the first empty line (at most
 * 256 KiB). A symbolic link is not followed (ELOOP): a link planted in a Maildir can point anywhere.
 */
import { promises as fs, constants as C } from 'node:fs';
import { hasHeaderEnd } from '../../mail/headers.js';

const HEADER_READ = 16 * 1024;
const HEADER_MAX = 256 * 1024;

export async function readHeader(path: string): Promise<Buffer> {
  const fh = await fs.open(path, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    let buf = Buffer.alloc(0);
    while (buf.length < HEADER_MAX) {
      const chunk = Buffer.alloc(HEADER_READ);
      const { bytesRead } = await fh.read(chunk, 0, HEADER_READ, buf.length);
      if (bytesRead === 0) break;
      buf = Buffer.concat([buf, chunk.subarray(0, bytesRead)]);
      if (hasHeaderEnd(buf)) break;
    }
    return buf;
  } finally {
    await fh.close();
  }
}
