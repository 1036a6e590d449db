/**
 * A scriptable fake POP3 server for client tests: listens on 127.0.0.1 on a free port, serves a
 * fixed set of messages, and lets a test replace the handler of any command, split its writes at
 * chosen byte offsets, drop the connection mid-response, stall, answer -ERR, and advertise (or
 * not) PIPELINING, STLS and SASL PLAIN. It records every command line and how deeply the client
 * pipelined (how many complete commands were waiting when one was taken up).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { encodeMultiline } from '../../src/mail/dot-stuffing.js';

export interface FakeMessage {
  uid: string;
  body: Buffer;
}

export type FakeHandler = (s: FakeSession, arg: string, line: string) => void | Promise<void>;

export interface FakePop3Options {
  messages?: Array<Buffer | FakeMessage>;
  user?: string;
  pass?: string;
  /** false: CAPA answers -ERR (an RFC 1939-only server). Default true. */
  capa?: boolean;
  pipelining?: boolean;
  stls?: boolean;
  saslPlain?: boolean;
  extraCapa?: string[];
  /** Greeting line (without CRLF); null sends none at all. */
  greeting?: string | null;
  /** Key and certificate for STLS and implicit TLS. */
  tls?: { key: Buffer; cert: Buffer };
  /** Speak TLS from the first byte (pop3s). */
  implicitTls?: boolean;
  /** Byte offsets at which to split the whole response (status line included) to `command`. */
  split?: (command: string, wire: Buffer) => number[] | undefined;
  /** Pause between split pieces so the client reads them as separate chunks. Default 3 ms. */
  pieceDelayMs?: number;
  /** Replace or add command handlers, keyed by upper-case command name. */
  handlers?: Record<string, FakeHandler>;
  /** Override sizes reported by LIST. */
  listSizes?: Record<number, number>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class FakePop3Server {
  readonly host = '127.0.0.1';
  port = 0;
  /** Every command line received, across sessions, verbatim (secrets included: it is a test). */
  readonly commands: string[] = [];
  /** Largest number of complete command lines waiting when one was taken up. */
  maxPipelineDepth = 0;
  readonly sessions: FakeSession[] = [];
  readonly messages: FakeMessage[];
  /** May be changed between commands. */
  split: FakePop3Options['split'];
  handlers: Record<string, FakeHandler>;
  private readonly server: net.Server;

  private constructor(readonly opts: FakePop3Options) {
    this.messages = (opts.messages ?? []).map((m, i) => (Buffer.isBuffer(m) ? { uid: `uid-${i + 1}`, body: m } : m));
    this.split = opts.split;
    this.handlers = { ...(opts.handlers ?? {}) };
    const onConnection = (socket: net.Socket): void => {
      // No Nagle: each split piece leaves at once instead of waiting for the client's ACK.
      socket.setNoDelay(true);
      const s = new FakeSession(this, socket);
      this.sessions.push(s);
      void s.run();
    };
    this.server = opts.implicitTls
      ? tls.createServer({ key: opts.tls?.key, cert: opts.tls?.cert }, onConnection)
      : net.createServer(onConnection);
    // Handshake failures (a client refusing our certificate) are expected in some tests.
    this.server.on('tlsClientError', () => undefined);
  }

  static async start(opts: FakePop3Options = {}): Promise<FakePop3Server> {
    const s = new FakePop3Server(opts);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(0, s.host, () => resolve());
    });
    s.port = (s.server.address() as net.AddressInfo).port;
    return s;
  }

  /** Commands named `name` (e.g. "RETR") received so far. */
  seen(name: string): string[] {
    const up = name.toUpperCase();
    return this.commands.filter((c) => c.split(' ')[0]!.toUpperCase() === up);
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export class FakeSession {
  socket: net.Socket;
  secure: boolean;
  authed = false;
  user: string | null = null;
  readonly deleted = new Set<number>();
  closed = false;
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;

  constructor(
    readonly server: FakePop3Server,
    socket: net.Socket,
  ) {
    this.socket = socket;
    this.secure = server.opts.implicitTls === true;
    this.listen(socket);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buf = Buffer.concat([this.buf, chunk]);
    this.wake?.();
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.wake?.();
  };

  private listen(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', () => undefined);
  }

  /** Next command line (without CRLF), or null when the client is gone. */
  async readLine(): Promise<string | null> {
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl >= 0) {
        let depth = 0;
        for (let i = 0; i < this.buf.length; i++) if (this.buf[i] === 0x0a) depth++;
        this.server.maxPipelineDepth = Math.max(this.server.maxPipelineDepth, depth);
        const line = this.buf.subarray(0, nl).toString('utf8').replace(/\r$/, '');
        this.buf = this.buf.subarray(nl + 1);
        return line;
      }
      if (this.closed) return null;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }

  async run(): Promise<void> {
    const g = this.server.opts.greeting;
    if (g !== null) await this.write(`${g ?? '+OK fake POP3 ready'}\r\n`);
    for (;;) {
      const line = await this.readLine();
      if (line === null) return;
      this.server.commands.push(line);
      const sp = line.indexOf(' ');
      const cmd = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
      const arg = sp < 0 ? '' : line.slice(sp + 1);
      const handler = this.server.handlers[cmd] ?? DEFAULT_HANDLERS[cmd];
      if (handler) await handler(this, arg, line);
      else await this.err(`unknown command ${cmd}`);
      if (this.closed) return;
    }
  }

  /** Write bytes, split into separate writes at `splits` (a short pause between pieces). */
  async write(data: Buffer | string, splits?: number[]): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    const points = (splits ?? []).filter((p) => p > 0 && p < buf.length).sort((a, b) => a - b);
    let prev = 0;
    for (const p of [...points, buf.length]) {
      if (this.closed || this.socket.destroyed) return;
      this.socket.write(buf.subarray(prev, p));
      prev = p;
      if (p < buf.length) await sleep(this.server.opts.pieceDelayMs ?? 3);
    }
  }

  /** Write a response, split as the server's `split` option says for this command. */
  async respond(command: string, wire: Buffer): Promise<void> {
    await this.write(wire, this.server.split?.(command, wire));
  }

  ok(text = ''): Promise<void> {
    return this.write(`+OK${text ? ` ${text}` : ''}\r\n`);
  }

  err(text = ''): Promise<void> {
    return this.write(`-ERR${text ? ` ${text}` : ''}\r\n`);
  }

  multiline(command: string, status: string, body: Buffer): Promise<void> {
    return this.respond(command, Buffer.concat([Buffer.from(`+OK ${status}\r\n`, 'latin1'), encodeMultiline(body)]));
  }

  /** Cut the connection (RST-ish: no QUIT answer, no FIN handshake niceties). */
  drop(): void {
    this.closed = true;
    this.socket.destroy();
  }

  /** Message `n` (1-based) if it exists and is not deleted. */
  message(n: number): FakeMessage | undefined {
    if (!Number.isInteger(n) || n < 1 || this.deleted.has(n)) return undefined;
    return this.server.messages[n - 1];
  }

  /** Switch to TLS after "+OK" to STLS. */
  startTls(): void {
    const key = this.server.opts.tls?.key;
    const cert = this.server.opts.tls?.cert;
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    const secure = new tls.TLSSocket(this.socket, { isServer: true, key, cert });
    this.socket = secure;
    this.buf = Buffer.alloc(0);
    this.secure = true;
    this.listen(secure);
  }

  capabilities(): string[] {
    const o = this.server.opts;
    const caps = ['TOP', 'UIDL', 'RESP-CODES', 'USER'];
    if (o.pipelining) caps.push('PIPELINING');
    if (o.stls && !this.secure) caps.push('STLS');
    if (o.saslPlain) caps.push('SASL PLAIN LOGIN');
    caps.push(...(o.extraCapa ?? []));
    return caps;
  }
}

function needAuth(s: FakeSession): boolean {
  if (s.authed) return true;
  void s.err('not logged in');
  return false;
}

/** The standard answers, for a handler that changes one case and passes the rest on. */
export const DEFAULT_HANDLERS: Record<string, FakeHandler> = {
  async CAPA(s) {
    if (s.server.opts.capa === false) return s.err('unknown command');
    await s.multiline('CAPA', 'Capability list follows', Buffer.from(s.capabilities().map((c) => `${c}\r\n`).join(''), 'latin1'));
  },
  async USER(s, arg) {
    s.user = arg;
    await s.ok();
  },
  async PASS(s, arg) {
    const o = s.server.opts;
    if (s.user !== null && s.user === (o.user ?? 'alice') && arg === (o.pass ?? 'secret')) {
      s.authed = true;
      return s.ok('Logged in.');
    }
    await s.err('[AUTH] Authentication failed.');
  },
  async AUTH(s, arg) {
    const o = s.server.opts;
    const [mech, initial] = arg.split(' ');
    if (!o.saslPlain || mech?.toUpperCase() !== 'PLAIN') return s.err('Unsupported authentication mechanism.');
    let response = initial;
    if (response === undefined) {
      await s.write('+ \r\n');
      response = (await s.readLine()) ?? '';
      s.server.commands.push(response);
    }
    const [, user, pass] = Buffer.from(response, 'base64').toString('utf8').split('\0');
    if (user === (o.user ?? 'alice') && pass === (o.pass ?? 'secret')) {
      s.authed = true;
      return s.ok('Logged in.');
    }
    await s.err('[AUTH] Authentication failed.');
  },
  async STLS(s) {
    if (!s.server.opts.stls || s.secure) return s.err('STLS not available');
    await s.ok('Begin TLS negotiation now.');
    s.startTls();
  },
  async STAT(s) {
    if (!needAuth(s)) return;
    let count = 0;
    let size = 0;
    s.server.messages.forEach((m, i) => {
      if (s.message(i + 1)) {
        count++;
        size += m.body.length;
      }
    });
    await s.ok(`${count} ${size}`);
  },
  async LIST(s, arg) {
    if (!needAuth(s)) return;
    const size = (n: number): number => s.server.opts.listSizes?.[n] ?? s.server.messages[n - 1]!.body.length;
    if (arg) {
      const n = Number(arg);
      return s.message(n) ? s.ok(`${n} ${size(n)}`) : s.err('There is no message ' + arg);
    }
    const lines = s.server.messages.map((_, i) => (s.message(i + 1) ? `${i + 1} ${size(i + 1)}\r\n` : '')).join('');
    await s.multiline('LIST', 'scan listing follows', Buffer.from(lines, 'latin1'));
  },
  async UIDL(s, arg) {
    if (!needAuth(s)) return;
    if (arg) {
      const n = Number(arg);
      const m = s.message(n);
      return m ? s.ok(`${n} ${m.uid}`) : s.err('There is no message ' + arg);
    }
    const lines = s.server.messages.map((m, i) => (s.message(i + 1) ? `${i + 1} ${m.uid}\r\n` : '')).join('');
    await s.multiline('UIDL', 'unique-id listing follows', Buffer.from(lines, 'latin1'));
  },
  async RETR(s, arg, line) {
    if (!needAuth(s)) return;
    const m = s.message(Number(arg));
    if (!m) return s.err('There is no message ' + arg);
    await s.multiline(line, `${m.body.length} octets`, m.body);
  },
  async TOP(s, arg, line) {
    if (!needAuth(s)) return;
    const [ns, ls] = arg.split(' ');
    const m = s.message(Number(ns));
    if (!m) return s.err('There is no message ' + ns);
    const body = m.body;
    const sep = body.indexOf('\r\n\r\n');
    const headerEnd = sep < 0 ? body.length : sep + 4;
    let end = headerEnd;
    for (let k = 0; k < Number(ls) && end < body.length; k++) {
      const nl = body.indexOf(0x0a, end);
      end = nl < 0 ? body.length : nl + 1;
    }
    await s.multiline(line, 'top of message follows', body.subarray(0, end));
  },
  async DELE(s, arg) {
    if (!needAuth(s)) return;
    const n = Number(arg);
    if (!s.message(n)) return s.err('There is no message ' + arg);
    s.deleted.add(n);
    await s.ok('Marked to be deleted.');
  },
  async NOOP(s) {
    await s.ok();
  },
  async RSET(s) {
    s.deleted.clear();
    await s.ok();
  },
  async QUIT(s) {
    await s.ok('Logging out.');
    s.closed = true;
    s.socket.end();
  },
};

/** A self-signed certificate for localhost / 127.0.0.1 made with the openssl CLI, or null. */
/** A throwaway self-signed certificate (openssl is required, as for the Dovecot harness). */
export function makeSelfSignedCert(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(path.join(tmpdir(), 'fake-pop3-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
