// Proves the Dovecot test harness: a real server, seeded as the manifest says.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CORPUS_GROUPS, corpusDir, seedCorpus } from '../harness/corpus.js';
import { startDovecot } from '../harness/dovecot.js';
import { harness, type Harness } from '../harness/env.js';
import { fixturesDir } from '../harness/fixtures.js';
import { fromImapName, maildirSubdir, toImapName } from '../harness/folders.js';
import { LineClient } from '../harness/line-client.js';
import type { ManifestEntry } from '../harness/manifest.js';

let h: Harness;
let manifest: ManifestEntry[];
beforeAll(() => {
  h = harness();
  manifest = h.manifest();
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const quote = (s: string): string => `"${s.replace(/(["\\])/g, '\\$1')}"`;

async function imapLogin(user: string, password: string, port = h.ports.imap): Promise<LineClient> {
  const c = await LineClient.connect({ host: h.host, port });
  expect(await c.readLine()).toMatch(/^\* OK /);
  const res = await c.imap('a', `LOGIN ${quote(user)} ${quote(password)}`);
  expect(res.at(-1)).toMatch(/^a OK /);
  return c;
}

async function imapLoginFails(user: string, password: string): Promise<string> {
  const c = await LineClient.connect({ host: h.host, port: h.ports.imap });
  try {
    await c.readLine();
    return (await c.imap('a', `LOGIN ${quote(user)} ${quote(password)}`)).at(-1)!;
  } finally {
    c.close();
  }
}

async function pop3(user: string, password: string): Promise<{ pass: string; stat: string }> {
  const c = await LineClient.connect({ host: h.host, port: h.ports.pop3 });
  try {
    expect(await c.readLine()).toMatch(/^\+OK/);
    c.send(`USER ${user}`);
    expect(await c.readLine()).toMatch(/^\+OK/);
    c.send(`PASS ${password}`);
    const pass = await c.readLine();
    if (!pass.startsWith('+OK')) return { pass, stat: '' };
    c.send('STAT');
    const stat = await c.readLine();
    c.send('QUIT');
    await c.readLine();
    return { pass, stat };
  } finally {
    c.close();
  }
}

function countsByFolder(entries: ManifestEntry[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of entries) m.set(e.folder, (m.get(e.folder) ?? 0) + 1);
  return m;
}

/** sha256 of every message file in a Maildir folder; retries if Dovecot moves new/ → cur/ meanwhile. */
function storedShas(dir: string): string[] {
  for (let attempt = 0; ; attempt++) {
    try {
      return ['cur', 'new'].flatMap((sub) =>
        readdirSync(path.join(dir, sub)).map((f) => sha(readFileSync(path.join(dir, sub, f)))),
      );
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw e;
    }
  }
}

/** "01-Mar-2002 00:01:37 +0000" → Date */
function parseInternalDate(s: string): Date {
  const m = /^(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(s.trim());
  if (!m) throw new Error(`bad INTERNALDATE ${s}`);
  const mon = 'JanFebMarAprMayJunJulAugSepOctNovDec'.indexOf(m[2]!) / 3;
  const off = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9])) * 60_000;
  return new Date(Date.UTC(+m[3]!, mon, +m[1]!, +m[4]!, +m[5]!, +m[6]!) - off);
}

describe('seeded user "corpus"', () => {
  test('manifest: full corpus in the default layout plus the fixtures', () => {
    const corpus = manifest.filter((e) => !e.origin.startsWith('fixtures/'));
    const fixtures = manifest.filter((e) => e.origin.startsWith('fixtures/'));
    expect(corpus).toHaveLength(6046);
    expect(fixtures).toHaveLength(readdirSync(fixturesDir()).filter((f) => f.endsWith('.eml')).length);
    expect(fixtures.length).toBeGreaterThanOrEqual(12);
    expect(Object.fromEntries(countsByFolder(manifest))).toEqual({
      INBOX: 2500, 'Archive/2002': 1400, 'Café ☕': 250, Junk: 500, 'Junk/Old': 1396, Fixtures: fixtures.length,
    });
    expect(new Set(corpus.map((e) => e.origin.split('/')[0]))).toEqual(new Set(CORPUS_GROUPS));
    // From_ lines are stripped, dates distinct, flags deterministic
    expect(corpus.every((e) => !e.bytes.subarray(0, 5).equals(Buffer.from('From ')))).toBe(true);
    expect(new Set(manifest.map((e) => e.internalDate.getTime())).size).toBe(manifest.length);
    expect(corpus[2]!.flags).toEqual(['\\Seen']);
    expect(corpus[6]!.flags).toEqual(['\\Flagged']);
    expect(corpus[3002]!.flags).toEqual(['\\Draft', '\\Flagged', '\\Answered', '\\Seen']); // 3003 = 3*7*11*13
  });

  test('IMAP plain: LOGIN, LIST shows every folder with "." as separator, STATUS counts match', async () => {
    const c = await imapLogin(h.user.name, h.user.password);
    try {
      const list = await c.imap('b', 'LIST "" "*"');
      expect(list.at(-1)).toMatch(/^b OK /);
      const boxes = new Map<string, { flags: string; delim: string }>();
      for (const line of list.slice(0, -1)) {
        const m = /^\* LIST \(([^)]*)\) "(.)" (?:"((?:[^"\\]|\\.)*)"|(\S+))$/.exec(line);
        expect(m, line).not.toBeNull();
        boxes.set(m![3] ?? m![4]!, { flags: m![1]!, delim: m![2]! });
      }
      expect([...boxes.values()].every((b) => b.delim === '.')).toBe(true);
      expect(boxes.get('Caf&AOk- &JhU-')).toBeDefined(); // modified UTF-7 on the wire
      expect(boxes.get('Archive')?.flags).toMatch(/\\Noselect/); // parent of Archive.2002 only
      const expected = countsByFolder(manifest);
      const selectable = [...boxes].filter(([, b]) => !/\\Noselect/.test(b.flags)).map(([name]) => name);
      expect(new Set(selectable.map(fromImapName))).toEqual(new Set(expected.keys()));

      let total = 0;
      for (const [folder, n] of expected) {
        const st = await c.imap('c', `STATUS ${quote(toImapName(folder))} (MESSAGES)`);
        expect(st.at(-1)).toMatch(/^c OK /);
        const m = /^\* STATUS .* \(MESSAGES (\d+)\)$/.exec(st[0]!);
        expect(Number(m?.[1]), folder).toBe(n);
        total += Number(m?.[1]);
      }
      expect(total).toBe(6046 + expected.get('Fixtures')!);
      expect((await c.imap('z', 'LOGOUT')).at(-1)).toMatch(/^z OK/);
    } finally {
      c.close();
    }
  });

  test('IMAP: FLAGS and INTERNALDATE of every message equal the manifest, in UID order', async () => {
    const c = await imapLogin(h.user.name, h.user.password);
    try {
      for (const [folder] of countsByFolder(manifest)) {
        const want = manifest.filter((e) => e.folder === folder);
        expect((await c.imap('e', `EXAMINE ${quote(toImapName(folder))}`)).at(-1)).toMatch(/^e OK/);
        const res = await c.imap('f', 'UID FETCH 1:* (FLAGS INTERNALDATE)');
        expect(res.at(-1)).toMatch(/^f OK/);
        const got = res.slice(0, -1).map((line) => {
          const m = /^\* \d+ FETCH \(.*FLAGS \(([^)]*)\).*INTERNALDATE "([^"]+)"/.exec(line);
          if (!m) throw new Error(`unexpected ${line}`);
          const flags = m[1]!.split(' ').filter((f) => f !== '' && f !== '\\Recent');
          return { flags: flags.sort(), date: parseInternalDate(m[2]!).toISOString() };
        });
        expect(got, folder).toEqual(want.map((e) => ({ flags: [...e.flags].sort(), date: e.internalDate.toISOString() })));
      }
    } finally {
      c.close();
    }
  });

  test('stored files are byte-identical to the manifest (fixtures: NUL, lone CR, 8-bit, no final LF)', () => {
    for (const [folder] of countsByFolder(manifest)) {
      const dir = path.join(h.maildirOf(h.user.name), maildirSubdir(folder));
      const stored = storedShas(dir);
      const want = manifest.filter((e) => e.folder === folder).map((e) => sha(e.bytes));
      expect(stored.sort(), folder).toEqual(want.sort());
    }
    const fx = manifest.filter((e) => e.folder === 'Fixtures');
    const byName = (n: string): ManifestEntry => fx.find((e) => e.origin === `fixtures/${n}`)!;
    expect(byName('nul-byte.eml').bytes.includes(0)).toBe(true);
    expect(byName('no-final-newline.eml').bytes.at(-1)).not.toBe(0x0a);
    expect(byName('no-message-id.eml').messageId).toBeNull();
    expect(byName('folded-message-id.eml').messageId).toBe('<folded-message-id@fixtures.mailferry.test>');
    expect(byName('dup-a.eml').messageId).toBe(byName('dup-b.eml').messageId);
    expect(byName('dup-a.eml').bytes.equals(byName('dup-b.eml').bytes)).toBe(false);
    expect(byName('lone-cr.eml').bytes.includes('\r')).toBe(true); // lone CRs survive Dovecot's save
    // the one corpus message with CR LF lines is stored with LF (Dovecot normalises on save)
    const crlf = manifest.find((e) => e.origin.startsWith('spam-2/00083.'))!;
    const original = readFileSync(path.join(corpusDir(), crlf.origin));
    expect(original.includes('\r\r\r\n')).toBe(true);
    expect(crlf.bytes.includes('\r\r\r\n')).toBe(false);
    expect(crlf.bytes.includes('\r\r\n')).toBe(true);
  });

  test('POP3 plain: login works and STAT counts INBOX', async () => {
    const { pass, stat } = await pop3(h.user.name, h.user.password);
    expect(pass).toMatch(/^\+OK/);
    const inbox = manifest.filter((e) => e.folder === 'INBOX');
    expect(stat).toMatch(new RegExp(`^\\+OK ${inbox.length} \\d+$`));
  });

  test('wrong password fails on IMAP and POP3, and later logins are not delayed', async () => {
    expect(await imapLoginFails(h.user.name, 'wrong')).toMatch(/^a NO \[AUTHENTICATIONFAILED\]/);
    expect((await pop3(h.user.name, 'wrong')).pass).toMatch(/^-ERR/);
    expect(await imapLoginFails('no-such-user', 'pass')).toMatch(/^a NO /);
    const t0 = Date.now();
    (await imapLogin(h.user.name, h.user.password)).close();
    expect(Date.now() - t0).toBeLessThan(1800); // anvil's auth penalty would be >= 2 s
  });
});

describe('TLS', () => {
  test('IMAPS and POP3S present the self-signed localhost certificate', async () => {
    const ca = readFileSync(h.certPem);
    const c = await LineClient.connect({ host: h.host, port: h.ports.imaps, tls: { ca, servername: 'localhost' } });
    try {
      const sock = c.socket as tls.TLSSocket;
      expect(sock.authorized).toBe(true);
      const cert = sock.getPeerCertificate();
      expect(cert.subject.CN).toBe('localhost');
      expect(cert.issuer.CN).toBe('localhost'); // self-signed
      expect(cert.subjectaltname).toContain('IP Address:127.0.0.1');
      expect(await c.readLine()).toMatch(/^\* OK /);
      expect((await c.imap('a', `LOGIN ${h.user.name} ${h.user.password}`)).at(-1)).toMatch(/^a OK /);
    } finally {
      c.close();
    }
    const p = await LineClient.connect({ host: h.host, port: h.ports.pop3s, tls: { ca, servername: 'localhost' } });
    try {
      expect(await p.readLine()).toMatch(/^\+OK/);
    } finally {
      p.close();
    }
  });

  test('without the CA the certificate is rejected', async () => {
    await expect(
      LineClient.connect({ host: h.host, port: h.ports.imaps, tls: { servername: 'localhost' } }),
    ).rejects.toThrow(/self[- ]signed/i);
  });
});

describe('addUser / doveadm / maildirOf from a worker', () => {
  test('a new user can log in at once, with its own password; re-adding is refused', async () => {
    const u = await h.freshUser('fresh', 's3cret');
    const c = await imapLogin(u.name, 's3cret');
    c.close();
    expect(await imapLoginFails(u.name, 'pass')).toMatch(/^a NO \[AUTHENTICATIONFAILED\]/);
    expect((await pop3(u.name, 's3cret')).stat).toBe('+OK 0 0');
    await expect(h.addUser(u.name, 'other')).rejects.toThrow(/exists/);
    // several in a row, each logging in within the same second
    for (let i = 0; i < 3; i++) {
      const v = await h.freshUser('burst', `pw${i}`);
      (await imapLogin(v.name, `pw${i}`)).close();
    }
  });

  test('doveadm save + maildirOf, and doveadm errors reject with stderr', async () => {
    const u = await h.freshUser('save');
    const msg = Buffer.from('Subject: saved\nMessage-ID: <saved@x.test>\n\nbody\n');
    await h.doveadm(['save', '-u', u.name, '-m', 'INBOX'], msg);
    const { stdout } = await h.doveadm(['mailbox', 'status', '-u', u.name, 'messages', 'INBOX']);
    expect(stdout.toString().trim()).toBe('INBOX messages=1');
    const files = readdirSync(path.join(h.maildirOf(u.name), 'new'));
    expect(files).toHaveLength(1);
    expect(readFileSync(path.join(h.maildirOf(u.name), 'new', files[0]!)).equals(msg)).toBe(true);
    await expect(h.doveadm(['mailbox', 'status', '-u', u.name, 'messages', 'NoSuchBox'])).rejects.toThrow(/NoSuchBox|exist/i);
  });

  test('seedCorpus with limitPerGroup and scale gives distinct Message-IDs per copy', async () => {
    const u = await h.freshUser('scale');
    const m = await seedCorpus(h, u.name, { limitPerGroup: 3, scale: 2, layout: { 'spam-2': 'INBOX/Spam' } });
    expect(m).toHaveLength(30);
    const ids = m.map((e) => e.messageId).filter((x): x is string => x !== null);
    expect(new Set(ids).size).toBe(ids.length);
    expect(m.slice(15).some((e) => e.messageId?.endsWith('.c1>') || e.bytes.includes('X-Rig-Copy: c1'))).toBe(true);
    const c = await imapLogin(u.name, 'pass');
    try {
      const st = await c.imap('s', 'STATUS "INBOX.Spam" (MESSAGES)');
      expect(st[0]).toBe('* STATUS INBOX.Spam (MESSAGES 6)');
    } finally {
      c.close();
    }
  });
});

describe('startDovecot', () => {
  let extra: Awaited<ReturnType<typeof startDovecot>> | undefined;
  afterAll(async () => extra?.stop());

  test('a second instance: own ports, users from opts, stop() kills it and removes its dir', async () => {
    extra = await startDovecot({ users: ['alice'] });
    expect(Object.values(extra.ports)).not.toContain(h.ports.imap);
    const c = await LineClient.connect({ host: extra.host, port: extra.ports.imap });
    expect(await c.readLine()).toMatch(/^\* OK /);
    expect((await c.imap('a', 'LOGIN alice pass')).at(-1)).toMatch(/^a OK /);
    c.close();
    const { dir, ports } = extra;
    await extra.stop();
    extra = undefined;
    expect(existsSync(dir)).toBe(false);
    await expect(
      new Promise((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port: ports.imap }, () => resolve(s.destroy()));
        s.on('error', reject);
      }),
    ).rejects.toThrow(/ECONNREFUSED/);
  });
});
