// Start a real Dovecot on loopback as a child process (port of /work/shared/bench/dovecot-up.sh).
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { renderConf, type DovecotPorts } from './conf.js';
import { prepareOauth2 } from './oauth.js';
import * as control from './control.js';
import type { DoveadmResult, DovecotControl, MailUser } from './control.js';
import { freePorts } from './ports.js';

export type { DovecotPorts } from './conf.js';
export type { DoveadmResult, DovecotControl, MailUser } from './control.js';

const run = promisify(execFile);
const START_TIMEOUT_MS = 15_000;

export interface Dovecot extends DovecotControl {
  certPem: string;
  host: '127.0.0.1';
  ports: DovecotPorts;
  pid: number;
  addUser(name: string, password?: string): Promise<MailUser>;
  doveadm(args: string[], input?: Buffer): Promise<DoveadmResult>;
  maildirOf(user: string): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Users to create (password "pass") before start. */
  users?: string[];
  /** Parent of the instance dir; default MF_DOVECOT_TMPDIR, else os.tmpdir(). */
  tmpdir?: string;
  /** mail_fsync of the server (default 'never'). */
  mailFsync?: 'never' | 'optimized' | 'always';
  /** Offer XOAUTH2, validating tokens minted by oauth.ts#oauthToken (the tests do). */
  oauth2?: boolean;
  /** Logins per user and IP address the server allows (mail_max_userip_connections; default 100). */
  maxUserIpConnections?: number;
}

export async function startDovecot(opts: StartOptions = {}): Promise<Dovecot> {
  const parent = opts.tmpdir ?? (process.env.MF_DOVECOT_TMPDIR || os.tmpdir());
  const dir = await mkdtemp(path.join(parent, 'mf-dovecot-'));
  let prepared: Prepared;
  try {
    prepared = await prepare(dir, opts.users ?? [], opts);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const { ctl, certPem, ports } = prepared;

  const child = spawn('dovecot', ['-F', '-c', ctl.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', (e) => {
      stderr += `spawn dovecot: ${e.message}\n`;
      resolve();
    });
  });
  const killOnExit = (): void => void child.kill('SIGTERM');
  process.on('exit', killOnExit);
  const terminate = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    process.off('exit', killOnExit);
  };

  const giveUp = new AbortController();
  try {
    await Promise.race([
      waitForGreeting(ports.imap, giveUp.signal),
      exited.then(() => Promise.reject(new Error(`dovecot exited (${child.exitCode ?? child.signalCode ?? 'spawn failed'})`))),
    ]);
  } catch (e) {
    giveUp.abort();
    await terminate();
    const log = await readFile(path.join(dir, 'dovecot.log'), 'utf8').catch(() => '(no dovecot.log)');
    await rm(dir, { recursive: true, force: true });
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`Dovecot did not start: ${why}\n--- stderr ---\n${stderr}--- dovecot.log ---\n${log}`);
  }

  let stopped: Promise<void> | undefined;
  return {
    ...ctl,
    certPem,
    host: '127.0.0.1',
    ports,
    pid: child.pid ?? -1,
    addUser: (name, password) => control.addUser(ctl, name, password),
    doveadm: (args, input) => control.doveadm(ctl, args, input),
    maildirOf: (user) => control.maildirOf(ctl, user),
    stop: () =>
      (stopped ??= (async () => {
        await terminate();
        await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      })()),
  };
}

interface Prepared {
  ctl: DovecotControl;
  certPem: string;
  ports: DovecotPorts;
}

/** Directories, certificate, ports, dovecot.conf and initial users. */
async function prepare(dir: string, users: string[], { mailFsync, oauth2, maxUserIpConnections }: StartOptions): Promise<Prepared> {
  await chmod(dir, 0o755); // mail processes run as nobody and must reach the homes
  for (const d of ['run', 'lib', 'home', 'ssl', 'passwd.d']) {
    await mkdir(path.join(dir, d));
    await chmod(path.join(dir, d), 0o755);
  }
  const passwdDir = path.join(dir, 'passwd.d');
  const certPem = path.join(dir, 'ssl', 'cert.pem');
  const keyPem = path.join(dir, 'ssl', 'key.pem');
  const [ids, portList] = await Promise.all([mailIds(), freePorts(4), makeCert(certPem, keyPem)]);
  const ports: DovecotPorts = { imap: portList[0]!, pop3: portList[1]!, imaps: portList[2]!, pop3s: portList[3]! };
  const conf = path.join(dir, 'dovecot.conf');
  const instanceName = path.basename(dir); // mf-dovecot-XXXXXX: unique, shows in ps
  const oauth2Conf = oauth2 ? await prepareOauth2(dir) : undefined;
  await writeFile(conf, renderConf({ dir, passwdDir, certPem, keyPem, ports, instanceName, mailFsync, oauth2Conf, maxUserIpConnections }));
  const ctl: DovecotControl = { dir, conf, passwdDir, mailUid: ids.uid, mailGid: ids.gid };
  for (const u of users) await control.addUser(ctl, u);
  return { ctl, certPem, ports };
}

async function mailIds(): Promise<{ uid: number; gid: number }> {
  const user = process.env.MF_MAIL_USER ?? 'nobody';
  const [u, g] = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

async function makeCert(certPem: string, keyPem: string): Promise<void> {
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', keyPem, '-out', certPem,
  ]);
  await chmod(keyPem, 0o600);
}

/** Resolve once the port accepts a connection and sends an IMAP "* OK" greeting. */
async function waitForGreeting(port: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = 'no attempt';
  while (Date.now() < deadline && !signal.aborted) {
    try {
      const greeting = await readGreeting(port, Math.max(100, deadline - Date.now()));
      if (greeting.startsWith('* OK')) return;
      last = `unexpected greeting ${JSON.stringify(greeting)}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no IMAP greeting on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms (last: ${last})`);
}

function readGreeting(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (err: Error | null, line?: string): void => {
      sock.destroy();
      if (err) reject(err);
      else resolve(line ?? '');
    };
    sock.setTimeout(timeoutMs, () => done(new Error('timeout waiting for greeting')));
    sock.on('error', (e) => done(e));
    sock.on('data', (b: Buffer) => {
      buf += b.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(null, buf.slice(0, nl).replace(/\r$/, ''));
    });
    sock.on('end', () => done(new Error(`connection closed before greeting (${JSON.stringify(buf)})`)));
  });
}
