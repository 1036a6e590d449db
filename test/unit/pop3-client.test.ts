import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MailferryError } from '../../src/errors.js';
import { Pop3Client, type Pop3ConnectOptions } from '../../src/drivers/pop3/client.js';
import { encodeMultiline } from '../../src/mail/dot-stuffing.js';
import { headerValue, messageIdOf } from '../../src/mail/headers.js';
import { FakePop3Server, makeSelfSignedCert, type FakePop3Options } from '../harness/fake-pop3.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** Messages as the server stores them: CRLF, 8-bit, invalid UTF-8, dot lines everywhere. */
const MSG1 = Buffer.concat([
  b('From: a@example.org\r\nSubject: caf\xe9\r\n\r\n.\r\n..\r\n...\r\n'),
  Buffer.from([0x80, 0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x0d, 0x0a]),
  b('.leading dot\r\nend\r\n'),
]);
const MSG2 = Buffer.concat([b('Subject: all bytes\r\n\r\n'), allBytes, b('\r\n.\r\n')]);
const MSG3 = b('Subject: no newline at the end\r\n\r\nlast line.');
const MSG4 = b('');
const MSG5 = b('Subject: x\r\n\r\n..\r\n');
const MESSAGES = [MSG1, MSG2, MSG3, MSG4, MSG5];
/** What RETR gives back: a server ends an unterminated last line with CRLF. */
const expected = (m: Buffer): Buffer =>
  m.length > 0 && m[m.length - 1] !== 0x0a ? Buffer.concat([m, b('\r\n')]) : m;

const USER = 'alice';
const PASS = 'S3cr3t-p@ss word';

let servers: FakePop3Server[] = [];
let clients: Pop3Client[] = [];

afterEach(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.close();
  clients = [];
  servers = [];
});

async function start(opts: FakePop3Options = {}): Promise<FakePop3Server> {
  const s = await FakePop3Server.start({ user: USER, pass: PASS, messages: MESSAGES, ...opts });
  servers.push(s);
  return s;
}

async function connect(s: FakePop3Server, extra: Partial<Pop3ConnectOptions> = {}): Promise<Pop3Client> {
  const c = await Pop3Client.connect({
    host: s.host,
    port: s.port,
    tls: 'none',
    rejectUnauthorized: true,
    timeoutMs: 2000,
    ...extra,
  });
  clients.push(c);
  return c;
}

async function session(opts: FakePop3Options = {}, extra: Partial<Pop3ConnectOptions> = {}) {
  const server = await start(opts);
  const client = await connect(server, extra);
  await client.login(USER, PASS);
  return { server, client };
}

/** Await a rejection and return it as a MailferryError. */
async function failure(p: Promise<unknown>): Promise<MailferryError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(MailferryError);
    return err as MailferryError;
  }
  throw new Error('expected a rejection');
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

function everything(err: MailferryError): string {
  return [err.message, err.hint ?? '', err.oneLine(), err.stack ?? '', String(err), JSON.stringify(err)].join('\n');
}

describe('login', () => {
  it('uses USER/PASS when CAPA has no SASL PLAIN', async () => {
    const { server, client } = await session();
    expect(server.seen('USER')).toEqual([`USER ${USER}`]);
    expect(server.seen('PASS')).toEqual([`PASS ${PASS}`]);
    expect(server.seen('AUTH')).toEqual([]);
    expect(await client.stat()).toEqual({ count: 5, size: MESSAGES.reduce((n, m) => n + m.length, 0) });
  });

  it('uses USER/PASS when the server knows no CAPA', async () => {
    const { server, client } = await session({ capa: false, saslPlain: true });
    expect(await client.capa()).toBeNull();
    expect(server.seen('PASS')).toHaveLength(1);
  });

  it('uses AUTH PLAIN when CAPA lists SASL PLAIN', async () => {
    const { server, client } = await session({ saslPlain: true });
    const auth = server.seen('AUTH');
    expect(auth).toHaveLength(1);
    const [, mech, resp] = auth[0]!.split(' ');
    expect(mech).toBe('PLAIN');
    expect(Buffer.from(resp!, 'base64').toString('utf8')).toBe(`\0${USER}\0${PASS}`);
    expect(server.seen('USER')).toEqual([]);
    expect((await client.uidl()).length).toBe(5);
  });

  it('sends AUTH PLAIN without initial response when it would exceed 255 octets', async () => {
    const longPass = 'p'.repeat(300);
    const server = await start({ saslPlain: true, pass: longPass });
    const client = await connect(server);
    await client.login(USER, longPass);
    expect(server.seen('AUTH')).toEqual(['AUTH PLAIN']);
  });

  it('-ERR to PASS is AUTH_FAILED, and the password appears nowhere', async () => {
    const server = await start();
    const lines: string[] = [];
    const log = { debug: (...args: unknown[]) => lines.push(JSON.stringify(args)) };
    const client = await connect(server, { log });
    const err = await failure(client.login(USER, 'wrong-' + PASS));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.exitCode).toBe(4);
    expect(err.message).toContain('Authentication failed');
    expect(everything(err)).not.toContain(PASS);
    expect(lines.join('\n')).not.toContain(PASS);
    expect(lines.join('\n')).toContain('PASS ***');
  });

  it('-ERR to AUTH PLAIN is AUTH_FAILED; a server echoing the secret is scrubbed', async () => {
    const server = await start({
      saslPlain: true,
      handlers: { AUTH: (s, arg) => s.err(`[AUTH] bad credentials in ${arg}`) },
    });
    const lines: string[] = [];
    const client = await connect(server, { log: { debug: (...a: unknown[]) => lines.push(JSON.stringify(a)) } });
    const err = await failure(client.login(USER, PASS));
    expect(err.code).toBe('AUTH_FAILED');
    const b64 = Buffer.from(`\0${USER}\0${PASS}`).toString('base64');
    expect(everything(err)).not.toContain(b64);
    expect(everything(err)).not.toContain(PASS);
    expect(lines.join('\n')).not.toContain(b64);
  });

  it('a server echoing the password after PASS is scrubbed too', async () => {
    const server = await start({ handlers: { PASS: (s, arg) => s.err(`wrong password ${arg}`) } });
    const client = await connect(server);
    const err = await failure(client.login(USER, PASS));
    expect(err.code).toBe('AUTH_FAILED');
    expect(everything(err)).not.toContain(PASS);
    expect(err.message).toContain('***');
  });

  it('[IN-USE] is not a wrong password: THROTTLED, retryable (exit 5)', async () => {
    const server = await start({ handlers: { PASS: (s) => s.err('[IN-USE] Mailbox is locked') } });
    const client = await connect(server);
    const err = await failure(client.login(USER, PASS));
    expect(err.code).toBe('THROTTLED');
    expect(err.exitCode).toBe(5);
    expect(err.retryable).toBe(true);
    expect(err.hint).toMatch(/locked/);
  });
});

describe('listings', () => {
  it('parses UIDL and LIST', async () => {
    const { client } = await session({
      messages: [
        { uid: 'a1b2', body: MSG1 },
        { uid: '000001.deadbeef', body: MSG2 },
        { uid: 'x!~', body: MSG3 },
      ],
    });
    expect(await client.uidl()).toEqual([
      { n: 1, uid: 'a1b2' },
      { n: 2, uid: '000001.deadbeef' },
      { n: 3, uid: 'x!~' },
    ]);
    expect(await client.list()).toEqual(
      new Map([
        [1, MSG1.length],
        [2, MSG2.length],
        [3, MSG3.length],
      ]),
    );
  });

  it('parses listings split at every byte of the wire', async () => {
    const { server, client } = await session({ pieceDelayMs: 1 });
    const want = await client.uidl();
    for (let i = 1; i < 60; i++) {
      server.split = () => [i];
      expect(await client.uidl()).toEqual(want);
    }
  });

  it('a garbage UIDL line is PROTOCOL', async () => {
    for (const bad of ['nonsense', 'x1 abc', '1abc', ' 1 abc']) {
      const { client } = await session({
        handlers: { UIDL: (s) => s.write(b(`+OK\r\n1 abc\r\n${bad}\r\n.\r\n`)) },
      });
      expect((await failure(client.uidl())).code, bad).toBe('PROTOCOL');
    }
  });

  it("UIDLs Dovecot takes from X-UIDL headers (pop3_reuse_xuidl): the rest of the line, trimmed; '' when there is none", async () => {
    const { client } = await session({
      handlers: { UIDL: (s) => s.write(b('+OK\r\n1 abc\r\n2 \r\n3 has space\r\n4\ttab\tinside  \r\n5\r\n6  \t \r\n.\r\n')) },
    });
    expect(await client.uidl()).toEqual([
      { n: 1, uid: 'abc' },
      { n: 2, uid: '' },
      { n: 3, uid: 'has space' },
      { n: 4, uid: 'tab\tinside' },
      { n: 5, uid: '' },
      { n: 6, uid: '' },
    ]);
  });

  it('a server answering garbage is PROTOCOL', async () => {
    const { client } = await session({ handlers: { STAT: (s) => s.write('hello there\r\n') } });
    const err = await failure(client.stat());
    expect(err.code).toBe('PROTOCOL');
    expect(err.message).toContain('hello there');
  });

  it('TOP returns the header block and the asked body lines', async () => {
    const { client } = await session();
    const top = await client.top(1, 1);
    const headerEnd = MSG1.indexOf(b('\r\n\r\n')) + 4;
    expect(top.equals(MSG1.subarray(0, headerEnd + 3))).toBe(true);
  });
});

describe('RETR', () => {
  it('returns 8-bit messages byte-exact (buffer, stream and Readable)', async () => {
    const { client } = await session();
    for (let n = 1; n <= MESSAGES.length; n++) {
      const want = expected(MESSAGES[n - 1]!);
      expect((await client.retrBuffer(n)).equals(want), `retrBuffer ${n}`).toBe(true);
      expect((await collect(client.retr(n))).equals(want), `retr ${n}`).toBe(true);
      expect((await collect(client.retrStream(n))).equals(want), `retrStream ${n}`).toBe(true);
    }
  });

  it('is byte-exact with the response split at every point (status line, dot lines, terminator)', async () => {
    const { server, client } = await session({ pieceDelayMs: 2 });
    // Count the chunks the client's socket really delivers, to know the splits reached it.
    let chunks = 0;
    (client as unknown as { socket: net.Socket }).socket.on('data', () => chunks++);
    let responses = 0;
    let splitResponses = 0;
    for (let n = 1; n <= 3; n++) {
      const msg = MESSAGES[n - 1]!;
      const wire = Buffer.concat([b(`+OK ${msg.length} octets\r\n`), encodeMultiline(msg)]);
      // Every point of the wire: the status line, each "\r\n..", the "\r\n.\r\n" terminator.
      for (let p = 1; p < wire.length; p++) {
        server.split = () => [p];
        const before = chunks;
        const got = await client.retrBuffer(n);
        expect(got.equals(expected(msg)), `message ${n} split at ${p}`).toBe(true);
        responses++;
        if (chunks - before >= 2) splitResponses++;
      }
    }
    // TCP may coalesce now and then; nearly every response must have arrived in two pieces.
    expect(responses).toBeGreaterThan(300);
    expect(splitResponses / responses).toBeGreaterThan(0.9);
    // ...and in 1-byte pieces.
    server.split = (_cmd, wire) => Array.from({ length: wire.length }, (_, i) => i);
    expect((await client.retrBuffer(1)).equals(expected(MSG1))).toBe(true);
    // The session is still in step afterwards.
    server.split = undefined;
    expect((await client.uidl()).length).toBe(5);
  });

  it('-ERR to RETR is MESSAGE_FAILED (scope message) and the session goes on', async () => {
    const { client } = await session();
    const err = await failure(client.retrBuffer(99));
    expect(err.code).toBe('MESSAGE_FAILED');
    expect(err.scope).toBe('message');
    const err2 = await failure(collect(client.retr(99)));
    expect(err2.code).toBe('MESSAGE_FAILED');
    expect((await client.retrBuffer(1)).equals(expected(MSG1))).toBe(true);
  });

  it('breaking out of a streamed RETR early leaves the session usable', async () => {
    const big = Buffer.concat([b('Subject: big\r\n\r\n'), Buffer.alloc(300_000, 0xe9), b('\r\n')]);
    const { client } = await session({ messages: [big, MSG1], split: (_c, w) => [10, 1000, 5000] });
    for await (const chunk of client.retr(1)) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    expect((await client.retrBuffer(2)).equals(expected(MSG1))).toBe(true);
    expect((await client.retrBuffer(1)).equals(big)).toBe(true);
  });

  it('pauses the socket for a slow consumer, so buffered bytes stay bounded', async () => {
    const line = Buffer.concat([Buffer.alloc(998, 0xfe), b('\r\n')]);
    const huge = Buffer.concat([b('Subject: huge\r\n\r\n'), ...Array.from({ length: 6000 }, () => line)]);
    const { client } = await session({ messages: [huge] }, { timeoutMs: 300 });
    const internals = client as unknown as { queued: number };
    let maxQueued = 0;
    const parts: Buffer[] = [];
    for await (const chunk of client.retr(1)) {
      parts.push(chunk);
      maxQueued = Math.max(maxQueued, internals.queued);
      if (parts.length % 16 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(Buffer.concat(parts).equals(huge)).toBe(true);
    expect(maxQueued).toBeLessThan(2 << 20);
  });

  it('concurrent calls never mix data', async () => {
    const { client } = await session({ split: (_c, w) => Array.from({ length: Math.floor(w.length / 7) }, (_, i) => (i + 1) * 7), pieceDelayMs: 1 });
    const [r1, r2, uidl, r3, list, s1, stat, r5] = await Promise.all([
      client.retrBuffer(1),
      client.retrBuffer(2),
      client.uidl(),
      client.retrBuffer(3),
      client.list(),
      collect(client.retr(1)),
      client.stat(),
      client.retrBuffer(5),
    ]);
    expect(r1.equals(expected(MSG1))).toBe(true);
    expect(r2.equals(expected(MSG2))).toBe(true);
    expect(r3.equals(expected(MSG3))).toBe(true);
    expect(s1.equals(expected(MSG1))).toBe(true);
    expect(r5.equals(expected(MSG5))).toBe(true);
    expect(uidl.map((u) => u.n)).toEqual([1, 2, 3, 4, 5]);
    expect(list.get(2)).toBe(MSG2.length);
    expect(stat.count).toBe(5);
  });
});

describe('retrMany', () => {
  const many = Array.from({ length: 20 }, (_, i) =>
    Buffer.concat([b(`Subject: ${i}\r\n\r\n.\r\n`), Buffer.from([0x80 + i, 0xff, 0x0d, 0x0a]), b('..end\r\n')]),
  );

  it('pipelines when PIPELINING is advertised and delivers in order', async () => {
    const { server, client } = await session({ messages: many, pipelining: true });
    const got: Array<[number, Buffer]> = [];
    const order = [3, 1, 20, 2, ...Array.from({ length: 16 }, (_, i) => i + 4)];
    await client.retrMany(order, async (n, body) => {
      await new Promise((r) => setTimeout(r, 1));
      got.push([n, body]);
    });
    expect(got.map(([n]) => n)).toEqual(order);
    for (const [n, body] of got) expect(body.equals(many[n - 1]!), `message ${n}`).toBe(true);
    expect(server.maxPipelineDepth).toBeGreaterThan(1);
    expect(server.maxPipelineDepth).toBeLessThanOrEqual(16);
    expect(server.seen('RETR')).toEqual(order.map((n) => `RETR ${n}`));
  });

  it('never has more than `window` RETRs in flight', async () => {
    const { server, client } = await session({ messages: many, pipelining: true });
    const got: number[] = [];
    await client.retrMany([1, 2, 3, 4, 5, 6, 7], (n) => void got.push(n), 3);
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(server.maxPipelineDepth).toBeGreaterThan(1);
    expect(server.maxPipelineDepth).toBeLessThanOrEqual(3);
  });

  it('goes one at a time without PIPELINING', async () => {
    const { server, client } = await session({ messages: many, pipelining: false });
    const got: number[] = [];
    await client.retrMany([5, 6, 7, 8], (n, body) => {
      expect(body.equals(many[n - 1]!)).toBe(true);
      got.push(n);
    });
    expect(got).toEqual([5, 6, 7, 8]);
    expect(server.maxPipelineDepth).toBe(1);
  });

  it('passes message errors to onMessageError and goes on; without it, stops and stays in step', async () => {
    const { client } = await session({ messages: many, pipelining: true });
    const got: number[] = [];
    const errs: Array<[number, string]> = [];
    await client.retrMany([1, 99, 2], (n) => void got.push(n), 16, (n, e) => void errs.push([n, e.code]));
    expect(got).toEqual([1, 2]);
    expect(errs).toEqual([[99, 'MESSAGE_FAILED']]);

    const err = await failure(client.retrMany([1, 98, 2, 3, 4], () => undefined));
    expect(err.code).toBe('MESSAGE_FAILED');
    expect((await client.retrBuffer(4)).equals(many[3]!)).toBe(true);
  });

  it('a throwing onMessage stops the batch and leaves the session in step', async () => {
    const { client } = await session({ messages: many, pipelining: true });
    const boom = new Error('disk full');
    await expect(
      client.retrMany([1, 2, 3, 4, 5], (n) => {
        if (n === 2) throw boom;
      }),
    ).rejects.toBe(boom);
    expect((await client.retrBuffer(6)).equals(many[5]!)).toBe(true);
  });
});

describe('failures never hang', () => {
  it('a connection dropped mid-RETR rejects with NETWORK at once', async () => {
    const { client } = await session(
      {
        handlers: {
          RETR: async (s) => {
            await s.write(b('+OK 1000 octets\r\nSubject: half\r\n\r\n\xe9\xe9'));
            setTimeout(() => s.drop(), 20);
          },
        },
      },
      { timeoutMs: 5000 },
    );
    const t0 = Date.now();
    const retr = client.retrBuffer(1);
    const pending = client.uidl(); // queued behind the RETR
    const err = await failure(retr);
    expect(err.code).toBe('NETWORK');
    expect(err.retryable).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await failure(pending)).code).toBe('NETWORK');
    expect((await failure(client.stat())).code).toBe('NETWORK');
  });

  it('a drop during a streamed RETR rejects the stream', async () => {
    const { client } = await session({
      handlers: {
        RETR: async (s) => {
          await s.write(b('+OK\r\nSubject: x\r\n\r\n'));
          setTimeout(() => s.drop(), 20);
        },
      },
    });
    expect((await failure(collect(client.retr(1)))).code).toBe('NETWORK');
  });

  it('a stall mid-RETR rejects with TIMEOUT after timeoutMs', async () => {
    const { client } = await session(
      { handlers: { RETR: (s) => s.write(b('+OK\r\nSubject: stalled\r\n\r\npart')) } },
      { timeoutMs: 300 },
    );
    const t0 = Date.now();
    const retr = client.retrBuffer(1);
    const queued = client.list();
    const err = await failure(retr);
    const elapsed = Date.now() - t0;
    expect(err.code).toBe('TIMEOUT');
    expect(err.retryable).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(1500);
    expect((await failure(queued)).code).toBe('TIMEOUT');
  });

  it('a stall inside the terminator rejects with TIMEOUT', async () => {
    const { client } = await session(
      { handlers: { RETR: (s) => s.write(b('+OK\r\nbody\r\n.\r')) } },
      { timeoutMs: 300 },
    );
    expect((await failure(client.retrBuffer(1))).code).toBe('TIMEOUT');
  });

  it('a stalled pipelined batch rejects with TIMEOUT', async () => {
    let count = 0;
    const { client } = await session(
      {
        pipelining: true,
        handlers: {
          RETR: async (s, arg) => {
            if (++count === 3) return new Promise<void>(() => undefined); // stalls at the third
            await s.multiline(`RETR ${arg}`, 'ok', MSG1);
          },
        },
      },
      { timeoutMs: 300 },
    );
    const got: number[] = [];
    const err = await failure(client.retrMany([1, 2, 3, 4], (n) => void got.push(n)));
    expect(err.code).toBe('TIMEOUT');
    expect(got).toEqual([1, 2]);
  });

  it('no greeting is TIMEOUT, with a hint about implicit TLS', async () => {
    const server = await start({ greeting: null });
    const t0 = Date.now();
    const err = await failure(connect(server, { timeoutMs: 300 }));
    expect(err.code).toBe('TIMEOUT');
    expect(err.hint).toMatch(/implicit/);
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('a garbage greeting is PROTOCOL; a -ERR greeting is NETWORK', async () => {
    const imap = await start({ greeting: '* OK [CAPABILITY IMAP4rev1] ready' });
    const err = await failure(connect(imap));
    expect(err.code).toBe('PROTOCOL');
    expect(err.message).toContain('IMAP4rev1');
    const busy = await start({ greeting: '-ERR [SYS/TEMP] too many connections' });
    expect((await failure(connect(busy))).code).toBe('NETWORK');
  });

  it('a refused connection is NETWORK', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const err = await failure(Pop3Client.connect({ host: '127.0.0.1', port, tls: 'none', rejectUnauthorized: true, timeoutMs: 2000 }));
    expect(err.code).toBe('NETWORK');
    expect(err.message).toContain('refused');
  });

  it('an unknown host is NETWORK and names the host', async () => {
    const host = 'no-such-host.invalid';
    const err = await failure(Pop3Client.connect({ host, port: 110, tls: 'none', rejectUnauthorized: true, timeoutMs: 5000 }));
    expect(err.code).toBe('NETWORK');
    expect(err.message).toContain(host);
    expect(err.hint).toMatch(/typo/);
  });

  it('close() rejects pending commands and later ones', async () => {
    const { client } = await session({ handlers: { RETR: () => undefined } }, { timeoutMs: 5000 });
    const pending = client.retrBuffer(1);
    setTimeout(() => client.close(), 20);
    expect((await failure(pending)).code).toBe('NETWORK');
    expect((await failure(client.noop())).code).toBe('NETWORK');
  });
});

describe('STARTTLS and TLS', () => {
  it('STLS missing is TLS_UNAVAILABLE with a hint', async () => {
    const server = await start({ stls: false });
    const err = await failure(connect(server, { tls: 'starttls' }));
    expect(err.code).toBe('TLS_UNAVAILABLE');
    expect(err.hint).toContain('--source-tls none');
    expect(err.hint).toContain('pop3s');
  });

  const cert = makeSelfSignedCert();

  it('upgrades with STLS, then logs in over TLS', async () => {
    const server = await start({ stls: true, saslPlain: true, pipelining: true, tls: cert });
    const client = await connect(server, { tls: 'starttls', ca: [cert.cert] });
    expect(client.secure).toBe(true);
    const caps = await client.capa();
    expect(caps?.has('STLS')).toBe(false); // not offered again once secure
    await client.login(USER, PASS);
    expect(server.sessions[0]!.secure).toBe(true);
    expect((await client.retrBuffer(2)).equals(expected(MSG2))).toBe(true);
    await client.quit();
  });

  it('an untrusted certificate is TLS_FAILED with a hint', async () => {
    const server = await start({ stls: true, tls: cert });
    const err = await failure(connect(server, { tls: 'starttls' }));
    expect(err.code).toBe('TLS_FAILED');
    expect(err.hint).toContain('--tls-ca');
    expect(err.hint).toContain('--insecure');
  });

  it('implicit TLS (pop3s) works with the CA, fails without', async () => {
    const server = await start({ implicitTls: true, tls: cert });
    const client = await connect(server, { tls: 'implicit', ca: [cert.cert] });
    expect(client.secure).toBe(true);
    await client.login(USER, PASS);
    expect((await client.retrBuffer(1)).equals(expected(MSG1))).toBe(true);
    expect((await failure(connect(server, { tls: 'implicit' }))).code).toBe('TLS_FAILED');
    const insecure = await connect(server, { tls: 'implicit', rejectUnauthorized: false });
    await insecure.login(USER, PASS);
  });
});

describe('maxMessageBytes', () => {
  const big = Buffer.concat([b('Subject: big\r\n\r\n'), Buffer.alloc(200_000, 0xff), b('\r\n')]);

  it('rejects an oversize RETR with MESSAGE_TOO_LARGE (scope message) and stays usable', async () => {
    const { client } = await session({ messages: [MSG1, big] }, { maxMessageBytes: 1000 });
    const err = await failure(client.retrBuffer(2));
    expect(err.code).toBe('MESSAGE_TOO_LARGE');
    expect(err.scope).toBe('message');
    expect((await client.retrBuffer(1)).equals(expected(MSG1))).toBe(true);
  });

  it('a streamed oversize RETR yields no more than the limit before rejecting', async () => {
    const { client } = await session({ messages: [MSG1, big], split: (_c, w) => [100, 600, 900, 5000] }, { maxMessageBytes: 1000 });
    let seen = 0;
    const err = await failure(
      (async () => {
        for await (const chunk of client.retr(2)) seen += chunk.length;
      })(),
    );
    expect(err.code).toBe('MESSAGE_TOO_LARGE');
    expect(seen).toBeLessThanOrEqual(1000);
    expect((await client.retrBuffer(1)).equals(expected(MSG1))).toBe(true);
  });

  it('skips RETR entirely when LIST already says the message is too large', async () => {
    const { server, client } = await session({ messages: [MSG1, big, MSG2], pipelining: true }, { maxMessageBytes: 1000 });
    await client.list();
    const err = await failure(client.retrBuffer(2));
    expect(err.code).toBe('MESSAGE_TOO_LARGE');
    const got: number[] = [];
    const errs: Array<[number, string]> = [];
    await client.retrMany([1, 2, 3], (n) => void got.push(n), 16, (n, e) => void errs.push([n, e.code]));
    expect(got).toEqual([1, 3]);
    expect(errs).toEqual([[2, 'MESSAGE_TOO_LARGE']]);
    expect(server.seen('RETR')).toEqual(['RETR 1', 'RETR 3']);
  });

  it('in retrMany without LIST, the oversize message is drained and the batch goes on', async () => {
    const { client } = await session({ messages: [MSG1, big, MSG2], pipelining: true }, { maxMessageBytes: 1000 });
    const got: Array<[number, Buffer]> = [];
    const errs: number[] = [];
    await client.retrMany([1, 2, 3], (n, body) => void got.push([n, body]), 16, (n) => void errs.push(n));
    expect(got.map(([n]) => n)).toEqual([1, 3]);
    expect(got[1]![1].equals(expected(MSG2))).toBe(true);
    expect(errs).toEqual([2]);
  });
});

describe('DELE and QUIT', () => {
  it('marks, commits at QUIT, and refuses commands afterwards', async () => {
    const { server, client } = await session();
    await client.dele(2);
    expect((await failure(client.dele(2))).code).toBe('MESSAGE_FAILED');
    await client.quit();
    expect(server.seen('DELE')).toEqual(['DELE 2', 'DELE 2']);
    expect(server.seen('QUIT')).toHaveLength(1);
    expect((await failure(client.stat())).code).toBe('NETWORK');
  });
});

describe('a server that sends without end (faster than any timeout)', () => {
  /** Answers +OK, then header-like lines until the client hangs up: never a terminator. */
  const flood = (s: import('../harness/fake-pop3.js').FakeSession) => {
    void (async () => {
      await s.write('+OK here it comes\r\n');
      const chunk = b(`X-Flood: ${'y'.repeat(1000)}\r\n`.repeat(64));
      while (!s.closed) {
        s.socket.write(chunk);
        await new Promise((r) => setImmediate(r));
      }
    })();
  };
  const heapGrowth = async (p: Promise<unknown>) => {
    const before = process.memoryUsage().rss;
    const err = await failure(p);
    return { err, grown: process.memoryUsage().rss - before };
  };

  it('an endless UIDL listing is cut off at 64 MB: PROTOCOL, the client broken', async () => {
    const { client } = await session({ handlers: { UIDL: flood } });
    const { err } = await heapGrowth(client.uidl());
    expect(err.code).toBe('PROTOCOL');
    expect(err.message).toMatch(/sent more than 67108864 bytes as the UIDL list without ending it/);
    expect(client.broken).toBe(true);
  });

  it('an endless header (TOP n 0) is cut off at 64 MB (or the message size limit if larger), holding a few KB', async () => {
    const { client } = await session({ handlers: { TOP: flood } }, { maxMessageBytes: 2 << 20 });
    const { err, grown } = await heapGrowth(client.topMany([1, 2], 0, () => {}));
    expect(err.code).toBe('PROTOCOL');
    expect(err.message).toMatch(/sent more than 67108864 bytes as message 1 \(TOP\)/);
    expect(grown).toBeLessThan(48 << 20);
  });

  it('the header of a message larger than a small size limit is still read (the message fails, not the session)', async () => {
    const bigHead = b(`Message-ID: <h@x>\r\n${`X-Pad: ${'z'.repeat(98)}\r\n`.repeat(100)}\r\n`);
    const { client } = await session({ messages: [Buffer.concat([bigHead, b('body\r\n')]), MSG1] }, { maxMessageBytes: 4000 });
    const heads = new Map<number, Buffer | null>();
    await client.topMany([1, 2], 0, (n, h) => void heads.set(n, h));
    expect(messageIdOf(heads.get(1)!)).toBe('<h@x>');
    expect(client.broken).toBe(false);
  });

  it('an endless RETR is cut off at twice the message size limit and a megabyte', async () => {
    const { client } = await session({ handlers: { RETR: flood } }, { maxMessageBytes: 1 << 20 });
    const err = await failure(client.retrBuffer(1));
    expect(err.code).toBe('PROTOCOL');
    expect(err.message).toMatch(/sent more than 3145728 bytes/);
    const { client: c2 } = await session({ handlers: { RETR: flood } }, { maxMessageBytes: 1 << 20 });
    const chunks: Buffer[] = [];
    const streamed = (async () => { for await (const p of c2.retr(1)) chunks.push(p); })();
    expect((await failure(streamed)).code).toMatch(/PROTOCOL|MESSAGE_TOO_LARGE/);
  });

  it('a large but finite header is read to its end, keeping only the fields asked for: a Message-ID after 300 KB is found, and the session goes on', async () => {
    const bigHead = b(`${`X-Pad: ${'z'.repeat(998)}\r\n`.repeat(300)}Received: by x;\r\n  Tue, 1 Oct 2024 10:00:00 +0000\r\nMessage-ID:\r\n <big@x>\r\n\r\n`);
    const { client } = await session({ messages: [Buffer.concat([bigHead, b('Message-ID: <in-body@x>\r\n')]), MSG1] });
    const heads = new Map<number, Buffer | null>();
    await client.topMany([1, 2], 0, (n, h) => void heads.set(n, h));
    expect(heads.get(1)!.length).toBeLessThan(200);
    expect(messageIdOf(heads.get(1)!)).toBe('<big@x>');
    // As read from the whole header.
    expect(headerValue(heads.get(1)!, 'received')).toBe(headerValue(bigHead, 'received'));
    expect(messageIdOf(heads.get(2)!)).toBe(messageIdOf(MSG1));
    expect(client.broken).toBe(false);
  });
});
