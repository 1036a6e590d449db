import { afterEach, describe, expect, it } from 'vitest';
import parser from 'imapflow/lib/handler/imap-parser.js';
import { fetchRows, readRow } from '../../src/drivers/imap/fetch-rows.js';
import { closeImap, connectImap } from '../../src/drivers/imap/connect.js';
import { FakeImapServer } from '../harness/fake-imap.js';
import { plainImapOptions } from '../harness/imap-options.js';

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

describe('fetchRows() and the idle-read timeout', () => {
  const servers: FakeImapServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
  });

  it('counts the server silent from when the consumer is ready for the next row, not while it works on one (a slow disk)', async () => {
    const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
    // Row 1 at once, row 2 2.2 s later: 0.7 s after a consumer busy 1.5 s with row 1 asks for it.
    const server = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [] }],
      hook: (s, tag, name) => {
        if (name !== 'UID FETCH') return false;
        s.send('* 1 FETCH (UID 1 BODY[] {3}\r\na\r\n)\r\n');
        void sleep(2200).then(() => s.send(`* 2 FETCH (UID 2 BODY[] {3}\r\nb\r\n)\r\n${tag} OK done\r\n`));
        return true;
      },
    });
    servers.push(server);
    const client = await connectImap(plainImapOptions({ port: server.port, user: 'u', timeoutMs: 1000 }));
    try {
      const uids: number[] = [];
      for await (const row of fetchRows(client, '1:2', { body: 'body' })) {
        uids.push(row.uid!);
        if (row.uid === 1) await sleep(1500); // the message written to a slow disk
      }
      expect(uids).toEqual([1, 2]);
    } finally {
      await closeImap(client, false);
    }
  }, 20_000);
});
