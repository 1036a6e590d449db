// Maildir files a Dovecot with its zlib plugin stored compressed: told by their first bytes
// (never a message's: the whole corpus reads as plain), gzip read as the message it holds, the
// others refused by name; the file's reader closed however the reading ends.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compressionOf, decompressed, messageChunks, MAGIC_BYTES } from '../../src/drivers/maildir/compressed.js';
import { loadCorpusMessages } from '../harness/corpus.js';

const MESSAGE = Buffer.from('Message-ID: <c@test>\r\nSubject: s\r\n\r\n' + 'line of the body\r\n'.repeat(5000));

async function* pieces(b: Buffer, size: number, closed: { value: boolean }): AsyncIterable<Buffer> {
  try {
    for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
  } finally {
    closed.value = true;
  }
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

describe('compressed Maildir files', () => {
  it('are told by their magic: gzip, bzip2, xz, zstd and Dovecot lz4; no corpus message, nor a header field that starts alike', () => {
    expect(compressionOf(gzipSync(MESSAGE).subarray(0, MAGIC_BYTES))).toBe('gzip');
    expect(compressionOf(Buffer.from([0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59, 0, 0]))).toBe('bzip2');
    expect(compressionOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4]))).toBe('xz');
    expect(compressionOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x24, 0]))).toBe('zstd');
    expect(compressionOf(Buffer.from('Dovecot-LZ4\r\x2a\x9b\xc5', 'latin1'))).toBe('lz4');
    expect(compressionOf(Buffer.from('BZh9: a header field\r\n'))).toBeUndefined();
    expect(compressionOf(Buffer.from('Dovecot-LZ4: x\r\n'))).toBeUndefined();
    expect(compressionOf(Buffer.alloc(0))).toBeUndefined();
    for (const m of loadCorpusMessages()) expect(compressionOf(m.bytes.subarray(0, MAGIC_BYTES)), m.file).toBeUndefined();
  });

  it('a whole file: gzip inflated (no more than the size given), plain bytes as they are, others refused', async () => {
    expect((await decompressed(gzipSync(MESSAGE), MESSAGE.length)).equals(MESSAGE)).toBe(true);
    expect(await decompressed(MESSAGE, 1)).toBe(MESSAGE);
    await expect(decompressed(gzipSync(MESSAGE), MESSAGE.length - 1)).rejects.toThrow();
    await expect(decompressed(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), 100)).rejects.toMatchObject({ code: 'ECOMPRESSED', message: expect.stringMatching(/zstd/) });
    await expect(decompressed(Buffer.concat([gzipSync(MESSAGE).subarray(0, 200)]), MESSAGE.length)).rejects.toThrow();
  });

  it('in chunks: gzip inflated whatever the chunking, plain passed through; the reader is closed at the end, on an error and when the caller stops', async () => {
    const zipped = gzipSync(MESSAGE);
    for (const size of [1, 7, 4096, zipped.length]) {
      const closed = { value: false };
      expect((await collect(messageChunks(pieces(zipped, size, closed)))).equals(MESSAGE), `chunks of ${size}`).toBe(true);
      expect(closed.value).toBe(true);
    }
    const plain = { value: false };
    expect((await collect(messageChunks(pieces(MESSAGE, 999, plain)))).equals(MESSAGE)).toBe(true);
    expect(plain.value).toBe(true);

    const damaged = Buffer.from(zipped);
    damaged.fill(0x55, 40, 80);
    const broken = { value: false };
    await expect(collect(messageChunks(pieces(damaged, 64, broken)))).rejects.toThrow();
    expect(broken.value).toBe(true);

    const refused = { value: false };
    await expect(collect(messageChunks(pieces(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3]), 4, refused)))).rejects.toMatchObject({ code: 'ECOMPRESSED' });
    expect(refused.value).toBe(true);

    for (const data of [zipped, MESSAGE]) {
      const stopped = { value: false };
      for await (const c of messageChunks(pieces(data, 16, stopped))) if (c.length) break;
      await new Promise((r) => setTimeout(r, 20));
      expect(stopped.value).toBe(true);
    }
  });
});
