// The POP3 source over the scriptable fake server: what Dovecot won't do on demand (drop mid-RETR,
// refuse one RETR, fail QUIT), and the one-session design (a consumer that stops early never
// deadlocks the shared session).
import { afterEach, describe, expect, it } from 'vitest';
import { MailferryError } from '../../src/errors.js';
import type { NetOptions } from '../../src/drivers/net-options.js';
import { Pop3Source } from '../../src/drivers/pop3/source.js';
import type { MessageRef } from '../../src/drivers/types.js';
import { FakePop3Server, type FakePop3Options } from '../harness/fake-pop3.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const msgs = [
  { uid: 'u-a', body: b('Message-ID: <A@Example.ORG>\r\nSubject: a\r\n\r\nbody a \xe9\r\n') },
  { uid: 'u-b', body: b('Subject: b, no id\r\n\r\n..dot line\r\n') },
  { uid: 'u-c', body: b('Message-ID: <c@x>\r\n\r\nbody c\r\n') },
];
const log: any = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, child: () => log };
let servers: FakePop3Server[] = [];
let sources: Pop3Source[] = [];
afterEach(async () => {
  await Promise.all(sources.map((s) => s.close().catch(() => {})));
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  sources = [];
});

async function open(opts: FakePop3Options = {}): Promise<{ server: FakePop3Server; source: Pop3Source }> {
  const server = await FakePop3Server.start({ messages: msgs, pipelining: true, ...opts });
  servers.push(server);
  const o: NetOptions = {
    endpoint: { kind: 'pop3', scheme: 'pop3', host: server.host, port: server.port, user: 'alice', tls: 'none' },
    secret: async () => 'secret',
    auth: 'password',
    insecure: false,
    compress: false,
    timeoutMs: 3000,
    log,
  } as NetOptions;
  const source = await Pop3Source.open(o);
  sources.push(source);
  return { server, source };
}

async function refs(source: Pop3Source, known?: Set<string>): Promise<MessageRef[]> {
  const out: MessageRef[] = [];
  for await (const r of source.list('INBOX', { known })) out.push(r);
  return out;
}

async function bodies(source: Pop3Source, rs: MessageRef[]): Promise<string[]> {
  const reader = await source.reader();
  const out: string[] = [];
  for await (const m of reader.fetch('INBOX', rs)) out.push(`${m.ref.key}:${m.body.toString('latin1')}`);
  return out;
}

describe('Pop3Source', () => {
  it('a UIDL the server gives two messages: both listed and fetched, told apart by their order, with a warning', async () => {
    const warnings: string[] = [];
    log.warn = (e: { msg: string }) => void warnings.push(e.msg);
    try {
      const twice = [msgs[0]!, { uid: 'u-a', body: b('Message-ID: <other@x>\r\n\r\nother body\r\n') }, msgs[2]!, { uid: 'u-a', body: b('Subject: third\r\n\r\nthird\r\n') }];
      const { source } = await open({ messages: twice });
      const rs = await refs(source);
      expect(rs.map((r) => r.key)).toEqual(['u-a', 'u-a 2', 'u-c', 'u-a 3']);
      expect((await bodies(source, rs)).map((x) => x.split('\r\n').at(-2))).toEqual(['body a \xe9', 'other body', 'body c', 'third']);
      expect(warnings).toEqual(['the POP3 server gives 2 messages a UIDL another message already has; they are told apart by their order']);
    } finally {
      log.warn = () => {};
    }
  });

  it('a UIDL with spaces is a key; one that reads like the key of a repeat ("dup 2") gets a key of its own, whatever the order', async () => {
    const body = (n: number) => b(`Message-ID: <${n}@x>\r\n\r\n${n}\r\n`);
    const keysOf = async (uids: string[]) => (await refs((await open({ messages: uids.map((uid, i) => ({ uid, body: body(i) })) })).source)).map((r) => r.key);
    expect(await keysOf(['dup 2', 'dup', 'has space', 'dup'])).toEqual(['dup 2 1', 'dup', 'has space', 'dup 2']);
    expect(await keysOf(['dup', 'dup', 'dup 2', 'dup 2', 'tab\t2'])).toEqual(['dup', 'dup 2', 'dup 2 1', 'dup 2 2', 'tab\t2']);
  });

  it('a message without a UIDL: listed as unreadable (not TOPped), or the listing fails; no key reaches it for RETR or DELE', async () => {
    const { server, source } = await open({ messages: [msgs[0]!, { uid: '', body: msgs[1]!.body }, msgs[2]!] });
    expect(await source.status('INBOX')).toEqual({ validity: 'pop3', messages: 3 });
    let count: number | undefined;
    const rs: MessageRef[] = [];
    for await (const r of source.list('INBOX', { unreadable: true, known: new Set(['u-c']), onCount: (n) => (count = n) })) rs.push(r);
    expect(count).toBe(2);
    expect(rs.map((r) => [r.key, r.seq, r.unreadable?.code])).toEqual([
      ['u-a', 1, undefined],
      ['no UIDL — message 2', 2, 'MESSAGE_FAILED'],
      ['u-c', 3, undefined],
    ]);
    expect(rs[1]!.unreadable).toMatchObject({ scope: 'message', retryable: false, messageKey: 'no UIDL — message 2', message: expect.stringMatching(/gives message 2 no UIDL.*X-UIDL header is empty/) });
    expect(server.seen('TOP')).toEqual(['TOP 1 0']);
    expect((await refs(source).catch((e) => e)) as MailferryError).toMatchObject({ code: 'MAILBOX_FAILED', scope: 'mailbox', retryable: false });
    expect((await bodies(source, rs)).map((x) => x.split(':')[0])).toEqual(['u-a', 'u-c']);
    expect(await source.deleteMessages('INBOX', rs.map((r) => r.key))).toEqual({ deleted: ['u-a', 'u-c'], refused: [] });
    expect(server.seen('DELE')).toEqual(['DELE 1', 'DELE 3']);
  });

  it('lists UIDL keys, LIST sizes and Message-IDs from TOP, skipping TOP for known keys', async () => {
    const { server, source } = await open();
    expect(await source.listMailboxes()).toEqual([{ path: 'INBOX', segments: ['INBOX'], delimiter: '' }]);
    expect(await source.status('INBOX')).toEqual({ validity: 'pop3', messages: 3 });
    const rs = await refs(source, new Set(['u-c']));
    expect(rs.map((r) => [r.key, r.seq, r.size, r.messageId])).toEqual([
      ['u-a', 1, msgs[0]!.body.length, '<A@example.org>'],
      ['u-b', 2, msgs[1]!.body.length, null],
      ['u-c', 3, msgs[2]!.body.length, null],
    ]);
    expect(server.seen('TOP')).toEqual(['TOP 1 0', 'TOP 2 0']);
  });

  it('fetches byte-exact, dot-unstuffed bodies; a consumer that stops early leaves the session usable', async () => {
    const { server, source } = await open();
    const rs = await refs(source);
    const reader = await source.reader();
    for await (const m of reader.fetch('INBOX', rs)) {
      expect(m.ref.key).toBe('u-a');
      break;
    }
    // the fake server dot-stuffs on the wire ("...dot line"); the body comes back as stored
    expect(await bodies(source, rs)).toEqual(msgs.map((m) => `${m.uid}:${m.body.toString('latin1')}`));
    expect(server.sessions.length).toBe(1);
  });

  it('a drop mid-RETR rejects the fetch; the next fetch reconnects and finds messages by UIDL', async () => {
    let drops = 1;
    const { server, source } = await open({
      handlers: {
        RETR: async (s, arg, line) => {
          if (drops-- > 0) {
            await s.write(b('+OK\r\nSubject: half'));
            setTimeout(() => s.drop(), 20);
            return;
          }
          const m = s.message(Number(arg))!;
          await s.multiline(line, 'ok', m.body);
        },
      },
    });
    const rs = await refs(source);
    const err = await bodies(source, rs).catch((e) => e);
    expect(err).toBeInstanceOf(MailferryError);
    expect((err as MailferryError).code).toBe('NETWORK');
    expect((await bodies(source, rs.slice(1))).map((x) => x.split(':')[0])).toEqual(['u-b', 'u-c']);
    expect(server.sessions.length).toBe(2);
  });

  it('a refused RETR fails that message only, after the others were delivered', async () => {
    const { source } = await open({
      handlers: {
        RETR: async (s, arg, line) => (arg === '2' ? s.err('[SYS/PERM] cannot read message') : s.multiline(line, 'ok', s.message(Number(arg))!.body)),
      },
    });
    const rs = await refs(source);
    const reader = await source.reader();
    const seen: string[] = [];
    const err = await (async () => {
      for await (const m of reader.fetch('INBOX', rs)) seen.push(m.ref.key);
    })().catch((e) => e);
    expect(seen).toEqual(['u-a', 'u-c']);
    expect((err as MailferryError).scope).toBe('message');
  });

  it('deleteMessages DELEs exactly the given keys and commits with QUIT; close() never deletes', async () => {
    const { server, source } = await open();
    await refs(source);
    expect(await source.deleteMessages('INBOX', ['u-c', 'u-a', 'gone'])).toEqual({ deleted: ['u-c', 'u-a'], refused: [] });
    expect(server.seen('DELE')).toEqual(['DELE 3', 'DELE 1']);
    expect(server.seen('QUIT').length).toBe(1);

    const other = await open();
    await refs(other.source);
    await other.source.close();
    expect(other.server.seen('DELE')).toEqual([]);
    expect(other.server.seen('RSET').length).toBe(1);
  });

  it('a DELE the server refuses leaves that message alone; the others are deleted', async () => {
    const { server, source } = await open({ handlers: { DELE: async (s, arg) => (arg === '2' ? s.err('[SYS/PERM] message locked') : ((s.deleted.add(Number(arg)), await s.ok('Marked')))) } });
    await refs(source);
    const out = await source.deleteMessages('INBOX', ['u-a', 'u-b', 'u-c']);
    expect(out.deleted).toEqual(['u-a', 'u-c']);
    expect(out.refused.map((r) => [r.key, r.error.message])).toEqual([['u-b', expect.stringMatching(/refused DELE 2: \[SYS\/PERM\] message locked/)]]);
    expect(server.seen('QUIT').length).toBe(1);
  });

  it('a signal before the commit: nothing deleted (no QUIT; close() sends RSET), INTERRUPTED', async () => {
    const ac = new AbortController();
    const { server, source } = await open({ handlers: { DELE: async (s, arg) => (ac.abort(), s.deleted.add(Number(arg)), await s.ok('Marked')) } });
    await refs(source);
    const err = await source.deleteMessages('INBOX', ['u-a', 'u-b'], ac.signal).catch((e) => e);
    expect((err as MailferryError).code).toBe('INTERRUPTED');
    expect(server.seen('DELE')).toEqual(['DELE 1']);
    expect(server.seen('QUIT')).toEqual([]);
    await source.close();
    expect(server.seen('RSET').length).toBe(1);
  });

  it('a QUIT the server refuses makes deleteMessages reject (nothing counted as deleted)', async () => {
    const { source } = await open({ handlers: { QUIT: (s) => s.err('[SYS/TEMP] could not expunge') } });
    await refs(source);
    const err = await source.deleteMessages('INBOX', ['u-a']).catch((e) => e);
    expect(err).toBeInstanceOf(MailferryError);
    expect((err as MailferryError).message).toMatch(/could not finish the session/);
  });
});
