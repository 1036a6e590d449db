import { describe, expect, it } from 'vitest';
import parser from 'imapflow/lib/handler/imap-parser.js';
import { readRow } from '../../src/drivers/imap/fetch-rows.js';

/** A FETCH response line as imapflow's own parser gives it to an untagged handler. */
const parse = (line: string, literals: string[] = []) => parser(Buffer.from(line), { literals: literals.map((l) => Buffer.from(l)) }) as Promise<{ attributes?: unknown[] }>;

describe('readRow()', () => {
  it('reads UID, FLAGS, INTERNALDATE, RFC822.SIZE, the header fields and BODY[] of one row', async () => {
    const row = readRow(await parse('* 12 FETCH (UID 34 FLAGS (\\Seen $Forwarded) INTERNALDATE "17-Jul-1996 02:44:25 -0700" RFC822.SIZE 44 BODY[HEADER.FIELDS (MESSAGE-ID)] {22}\r\n BODY[] {3}\r\n)', ['Message-ID: <a@b>\r\n\r\n', 'x\r\n']));
    expect(row).toEqual({
      uid: 34,
      flags: ['\\Seen', '$Forwarded'],
      internalDate: Date.UTC(1996, 6, 17, 9, 44, 25),
      size: 44,
      header: Buffer.from('Message-ID: <a@b>\r\n\r\n'),
      body: Buffer.from('x\r\n'),
    });
  });

  it('takes BINARY[] as the body and a quoted string as bytes', async () => {
    expect(readRow(await parse('* 1 FETCH (UID 7 BINARY[] {2}\r\n)', ['\0a'])).body).toEqual(Buffer.from('\0a'));
    expect(readRow(await parse('* 1 FETCH (UID 7 BODY[] "caf\u00e9")')).body).toEqual(Buffer.from('caf\u00e9'));
  });

  it('leaves out what the server sent as NIL, malformed or unasked for', async () => {
    const row = readRow(await parse('* 1 FETCH (UID 99999999999 BODY[] NIL FLAGS NIL INTERNALDATE "yesterday" RFC822.SIZE -1 BODY[]<0> "ab" MODSEQ (5))'));
    expect(row).toEqual({ uid: undefined, body: undefined, flags: [], internalDate: undefined, size: undefined });
  });

  it('a header section the server answered NIL is an empty header (the message has no such field)', async () => {
    expect(readRow(await parse('* 3 FETCH (UID 3 BODY[HEADER.FIELDS (MESSAGE-ID)] NIL)')).header).toEqual(Buffer.alloc(0));
  });
});
