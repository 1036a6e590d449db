/**
 * A small byte-exact POP3 client (RFC 1939, CAPA/PIPELINING/response codes from RFC 2449,
 * STLS from RFC 2595, AUTH PLAIN from RFC 5034/4616, AUTH XOAUTH2 for OAuth 2.0 bearer tokens).
 *
 * Why not node-pop3: its RETR decodes to a UTF-8 string (corrupting 8-bit mail), it never removes
 * dot-stuffing, hangs on a terminator split across TCP chunks, never rejects on a dropped or
 * stalled connection, mixes data between concurrent calls and has no STLS, CAPA or pipelining.
 *
 * Design:
 * - Incoming bytes go into a chunk queue; readers pull chunks. Message bodies are decoded by the
 *   streaming `MultilineDecoder` and stay Buffers from socket to caller. Nothing but status and
 *   listing lines is ever decoded to text.
 * - Every command takes an internal mutex for its whole request/response exchange, so concurrent
 *   callers are serialised and can never see each other's bytes. `retrMany` holds it for the
 *   whole pipelined batch.
 * - Timeouts: `timeoutMs` bounds the TCP connect (plus TLS handshake), the greeting and every wait
 *   for server bytes while a response is being read (an idle-read timeout, restarted by each
 *   chunk). Time the caller spends consuming a body does not count. When it fires the connection
 *   is destroyed and every pending and later command rejects with TIMEOUT.
 * - Any drop of the connection rejects the pending read at once with NETWORK; afterwards every
 *   command rejects with that same error. Bytes that arrived before the drop are still delivered.
 * - Backpressure: when the caller reads slowly the socket is paused, so memory stays bounded.
 * - Passwords and tokens are never written to logs or error messages; server text quoted in
 *   errors is scrubbed of them (and of their AUTH base64) in case a server echoes them.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Readable } from 'node:stream';
import { HeaderFields } from '../../mail/header-fields.js';
import { MailferryError } from '../../errors.js';
import { MultilineDecoder } from '../../mail/dot-stuffing.js';
import { suggestedBackoffMs } from '../throttle.js';
import { watchTrickle } from '../trickle.js';
import { tlsCertHint } from '../net-options.js';

export interface Pop3Logger {
  debug(objOrMsg: unknown, ...args: unknown[]): void;
}

export type Pop3TlsMode = 'implicit' | 'starttls' | 'none';

export interface Pop3ConnectOptions {
  host: string;
  port: number;
  tls: Pop3TlsMode;
  /** TLS SNI / certificate name; defaults to `host` (no SNI when host is an IP address). */
  servername?: string;
  /** Extra trusted CA certificates (PEM). */
  ca?: Array<string | Buffer>;
  /** A TLS context with the CAs to trust (takes the place of `ca`). */
  secureContext?: tls.SecureContext;
  rejectUnauthorized: boolean;
  /** Connect (incl. TLS handshake), greeting and idle-read timeout in ms. Default 30000. */
  timeoutMs?: number;
  /** Messages larger than this fail with MESSAGE_TOO_LARGE (scope 'message'). */
  maxMessageBytes?: number;
  log?: Pop3Logger;
}

export interface Pop3Stat {
  count: number;
  size: number;
}

export interface Pop3Uid {
  n: number;
  /** The rest of the UIDL line, trimmed: '' when the server gives the message none (see uidl()). */
  uid: string;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_PIPELINE_WINDOW = 16;

/**
 * A pipelined window is topped up once it has drained to half, not after every answer: one write
 * of many commands instead of one write (and one wake-up of the server) per message. Measured:
 * a POP3 copy of 6,046 messages spent ~200 ms of its main thread in those small writes.
 */
const refillAt = (depth: number): number => (depth > 1 ? depth >> 1 : 0);

/** Pause the socket when this many bytes wait unread; resume below LOW_WATER. */
const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;
/** RFC 2449 allows 512-octet response lines; anything far longer is garbage. */
const MAX_STATUS_LINE = 8192;
/**
 * Bounds on what a server may make the client hold (a hostile one can send without end, faster
 * than any timeout fires). A UIDL or LIST line is under 100 bytes, so 64 MB is over half a million
 * messages; of a header (TOP n 0) only the few fields the source reads are kept, however long it is.
 */
const MAX_LISTING = 64 << 20;
/** The header fields a header read (TOP n 0) keeps by default: what the POP3 source reads. */
const TOP_FIELDS = ['message-id', 'received', 'date'];
/** The "status" of an XOAUTH2 error challenge (base64 JSON, e.g. {"status":"invalid_token"}), if any. */
function saslErrorStatus(challenge: string): string | undefined {
  try {
    const status = (JSON.parse(Buffer.from(challenge.trim(), 'base64').toString('utf8')) as { status?: unknown }).status;
    return typeof status === 'string' && /^[\w.-]{1,64}$/.test(status) ? `(status ${status})` : undefined;
  } catch {
    return undefined;
  }
}

/** RFC 5034: an AUTH command with initial response may be up to 255 octets. */
const MAX_AUTH_LINE = 255;

const CERT_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);


interface Status {
  ok: boolean;
  /** "+ " continuation (only meaningful during AUTH). */
  cont: boolean;
  text: string;
}

interface BodyLimits {
  /** Bytes kept at most. */
  limit?: number;
  /** Message number, for the MESSAGE_TOO_LARGE error. */
  n?: number;
  discard?: boolean;
  /** Past the limit: fail (MESSAGE_TOO_LARGE after the rest is read) or cut (keep the first bytes). */
  over?: 'fail' | 'cut';
  /** Bytes read in all past which the server is cut off (PROTOCOL). */
  cutOffAt?: number;
  /** Keep only these header fields, read as the body streams by (a header of any length): returns their block. */
  fields?: HeaderFields;
}

interface Waiter {
  resolve(chunk: Buffer): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

type RetrResult = { body: Buffer } | { error: MailferryError };

class Mutex {
  private tail: Promise<void> = Promise.resolve();

  acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      let done = false;
      release = () => {
        if (!done) {
          done = true;
          resolve();
        }
      };
    });
    const prev = this.tail;
    this.tail = prev.then(() => held);
    return prev.then(() => release);
  }
}

function describeEndpoint(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Map a socket/TLS error to the catalogue. */
function mapSocketError(
  err: NodeJS.ErrnoException,
  host: string,
  port: number,
  phase: 'connect' | 'tls' | 'session',
  activity?: string,
): MailferryError {
  const where = describeEndpoint(host, port);
  const code = err.code ?? '';
  const during = activity ? ` while waiting for ${activity}` : '';
  if (CERT_ERROR_CODES.has(code)) {
    // Worded as the IMAP side words it: a script sees one message for one failure.
    return new MailferryError('TLS_FAILED', `TLS certificate of ${where} not trusted: ${err.message.replace(/\s+/g, ' ').trim()} (${code})`, {
      hint: tlsCertHint(code),
      cause: err,
    });
  }
  if (code === 'ENOTFOUND') {
    return new MailferryError('NETWORK', `host not found: ${host}`, {
      hint: `check the host name "${host}" for a typo`,
      cause: err,
      retryable: false,
    });
  }
  if (code === 'EAI_AGAIN') {
    return new MailferryError('NETWORK', `could not resolve host ${host} (temporary DNS failure)`, {
      hint: 'check your network and DNS; retry later',
      cause: err,
    });
  }
  if (code === 'ECONNREFUSED') {
    return new MailferryError('NETWORK', `connection to ${where} refused`, {
      hint: 'check that the POP3 server is running and the port is right: usually 110 for plain or STARTTLS, 995 for pop3s',
      cause: err,
    });
  }
  if (code === 'ETIMEDOUT') {
    return new MailferryError('TIMEOUT', `connection to ${where} timed out${during}`, { cause: err });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED') {
    return new MailferryError('NETWORK', `connection to ${where} was reset by the server${during}`, { cause: err });
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') {
    return new MailferryError('NETWORK', `${where} is unreachable (${code})`, {
      hint: 'check the host name and your network',
      cause: err,
    });
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|unknown protocol/.test(err.message)) {
    return new MailferryError('TLS_FAILED', `${where} does not speak TLS (plain POP3 on this port?)`, {
      hint: 'pop3s:// is for port 995; for a plain port (110) use pop3:// (STARTTLS)',
      cause: err,
    });
  }
  if (phase === 'tls' || code.startsWith('ERR_SSL_') || code === 'EPROTO' || /SSL|TLS/.test(err.message)) {
    // OpenSSL's messages run over lines ("80BC…:error:0A00010B:SSL routines:…"): the first, trimmed.
    const first = err.message.split('\n').map((l) => l.trim()).filter(Boolean)[0] ?? code;
    return new MailferryError('TLS_FAILED', `TLS handshake with ${where} failed: ${first}`, {
      hint: 'check the TLS mode: pop3s on port 995 takes --source-tls implicit, port 110 takes --source-tls starttls',
      cause: err,
    });
  }
  return new MailferryError('NETWORK', `connection to ${where} failed${during}: ${err.message}`, { cause: err });
}

/** Printable one-line excerpt of server text for an error message. */
function sanitize(text: string, secrets: readonly string[], max = 200): string {
  let t = text;
  for (const s of secrets) if (s.length > 0) t = t.split(s).join('***');
  // eslint-disable-next-line no-control-regex
  t = t.replace(/[\x00-\x1f\x7f]/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

/** RFC 2449 response code, e.g. "[IN-USE] locked" → "IN-USE". */
function responseCode(text: string): string | undefined {
  const m = /^\[([^\]]+)\]/.exec(text);
  return m?.[1]?.toUpperCase();
}

function checkMessageNumber(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`POP3 message number must be a positive integer, got ${n}`);
}

/** Split a decoded multi-line listing into text lines (these are protocol lines, not mail). */
function listingLines(body: Buffer): string[] {
  const lines = body.toString('latin1').split('\n');
  const out: string[] = [];
  for (const raw of lines) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.length > 0) out.push(line);
  }
  return out;
}

interface ReadyErrors {
  error: (err: NodeJS.ErrnoException) => MailferryError;
  closed: () => MailferryError;
  timeout: () => MailferryError;
}

/**
 * Resolves with `sock` once it emits `ready` ('connect' or 'secureConnect'). An error, a close
 * or the timeout first destroys it (and runs `onFail`) and rejects with the matching error.
 */
function whenReady<S extends net.Socket>(sock: S, ready: 'connect' | 'secureConnect', timeoutMs: number, errors: ReadyErrors, onFail?: (err: MailferryError) => void): Promise<S> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err: MailferryError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.off('error', onError);
      sock.off('close', onClose);
      if (err) {
        sock.on('error', () => undefined);
        sock.destroy();
        onFail?.(err);
        reject(err);
      } else {
        resolve(sock);
      }
    };
    const onError = (err: NodeJS.ErrnoException): void => settle(errors.error(err));
    const onClose = (): void => settle(errors.closed());
    const timer = setTimeout(() => settle(errors.timeout()), timeoutMs);
    sock.once('error', onError);
    sock.once('close', onClose);
    sock.once(ready, () => settle(null));
  });
}

function openSocket(o: Pop3ConnectOptions, timeoutMs: number): Promise<net.Socket> {
  const where = describeEndpoint(o.host, o.port);
  const implicit = o.tls === 'implicit';
  const sock: net.Socket = implicit
    ? tls.connect({
        host: o.host,
        port: o.port,
        servername: o.servername ?? (net.isIP(o.host) ? undefined : o.host),
        ca: o.ca,
        secureContext: o.secureContext,
        rejectUnauthorized: o.rejectUnauthorized,
      })
    : net.connect({ host: o.host, port: o.port });
  return whenReady(sock, implicit ? 'secureConnect' : 'connect', timeoutMs, {
    error: (err) => mapSocketError(err, o.host, o.port, implicit ? 'tls' : 'connect'),
    closed: () => new MailferryError('NETWORK', `connection to ${where} closed before it was established`),
    timeout: () =>
      new MailferryError('TIMEOUT', `connecting to ${where} timed out after ${timeoutMs} ms`, {
        hint: 'check the host, the port and any firewall in between',
      }),
  });
}

/**
 * Dovecot's answer to a RETR or TOP of a message its session still lists but cannot open: "-ERR
 * Message N expunged." (N the number asked for). Another client expunged it, or its file cannot
 * be read: the same words for both, so the source asks the server again before it takes the
 * message for gone (Pop3Source#confirmGone).
 */
function saysExpunged(n: number, text: string): boolean {
  return text === `Message ${n} expunged.`;
}

/** Refused RETRs the server answered with its "expunged" words. */
const expungedAnswers = new WeakSet<MailferryError>();

/** The server refused this RETR saying the message was expunged (see saysExpunged). */
export function refusedAsExpunged(err: unknown): boolean {
  return err instanceof MailferryError && expungedAnswers.has(err);
}

export class Pop3Client {
  private socket: net.Socket;
  private readonly host: string;
  private readonly port: number;
  private readonly where: string;
  private readonly opts: Pop3ConnectOptions;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number | undefined;
  private readonly log: Pop3Logger | undefined;
  private readonly mutex = new Mutex();

  private queue: Buffer[] = [];
  private queued = 0;
  private paused = false;
  private waiter: Waiter | null = null;
  private failure: MailferryError | null = null;
  /** What a pending read is waiting for, for error messages. */
  private activity = 'the greeting';

  /** undefined: not asked yet in this session state; null: server has no CAPA. */
  private capsCache: Set<string> | null | undefined = undefined;
  private sizes: Map<number, number> | null = null;
  private readonly secrets: string[] = [];
  /** Stops the trickle watch of the current socket. */
  private unwatch?: () => void;
  private tlsActive: boolean;

  private constructor(socket: net.Socket, opts: Pop3ConnectOptions, timeoutMs: number) {
    this.socket = socket;
    this.opts = opts;
    this.host = opts.host;
    this.port = opts.port;
    this.where = describeEndpoint(opts.host, opts.port);
    this.timeoutMs = timeoutMs;
    this.maxMessageBytes = opts.maxMessageBytes;
    this.log = opts.log;
    this.tlsActive = opts.tls === 'implicit';
    this.attach(socket);
  }

  static async connect(opts: Pop3ConnectOptions): Promise<Pop3Client> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
    const socket = await openSocket(opts, timeoutMs);
    socket.setNoDelay(true);
    const client = new Pop3Client(socket, opts, timeoutMs);
    try {
      await client.readGreeting();
      if (opts.tls === 'starttls') await client.startTls();
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  /** True when the session is encrypted (implicit TLS or after STLS). */
  get secure(): boolean {
    return this.tlsActive;
  }

  // ---------------------------------------------------------------- socket plumbing

  private readonly onData = (chunk: Buffer): void => {
    if (this.failure) return;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve(chunk);
      return;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (!this.paused && this.queued > HIGH_WATER) {
      this.paused = true;
      this.socket.pause();
    }
  };

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    this.fail(mapSocketError(err, this.host, this.port, 'session', this.waiter ? this.activity : undefined));
  };

  private readonly onEnd = (): void => {
    this.fail(this.closedByServer());
  };

  private readonly onClose = (): void => {
    this.fail(this.closedByServer());
  };

  private closedByServer(): MailferryError {
    const during = this.waiter ? ` while waiting for ${this.activity}` : '';
    return new MailferryError('NETWORK', `POP3 server ${this.where} closed the connection${during}`);
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    this.unwatch = watchTrickle(socket, this.timeoutMs, (secs) =>
      this.fail(new MailferryError('TIMEOUT', `POP3 server ${this.where} sent only a trickle for ${secs} s while we waited for ${this.activity}: cut`, { hint: 'the server or the network is failing; rerun to resume' })),
    );
  }

  private detach(socket: net.Socket): void {
    this.unwatch?.();
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('end', this.onEnd);
    socket.off('close', this.onClose);
  }

  /** Mark the connection dead: destroy it and reject the pending read (queued bytes stay readable). */
  private fail(err: MailferryError): void {
    if (this.failure) return;
    this.failure = err;
    this.log?.debug({ pop3: this.where, code: err.code }, `pop3 connection ended: ${err.message}`);
    const w = this.waiter;
    this.waiter = null;
    if (w) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.socket.on('error', () => undefined);
    this.socket.destroy();
  }

  /** Next chunk of server bytes; rejects on drop, or after timeoutMs without bytes. */
  private pull(): Promise<Buffer> {
    const chunk = this.queue.shift();
    if (chunk) {
      this.queued -= chunk.length;
      if (this.paused && this.queued <= LOW_WATER) {
        this.paused = false;
        this.socket.resume();
      }
      return Promise.resolve(chunk);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) return Promise.reject(new MailferryError('INTERNAL', 'internal error: two concurrent POP3 reads'));
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          new MailferryError('TIMEOUT', `POP3 server ${this.where} sent nothing for ${this.timeoutMs} ms while we waited for ${this.activity}`, {
            hint: 'the server or the network stalled; rerun to resume',
          }),
        );
      }, this.timeoutMs);
      this.waiter = { resolve, reject, timer };
    });
  }

  /** Give back bytes that belong to the next response. */
  private unshift(buf: Buffer): void {
    if (buf.length === 0) return;
    this.queue.unshift(buf);
    this.queued += buf.length;
  }

  private send(line: string, logLine: string = line): void {
    if (this.failure) throw this.failure;
    this.log?.debug({ pop3: this.where }, `pop3 C: ${logLine}`);
    // UTF-8, as the status lines are read: a USER or PASS beyond ASCII goes as the server stores it.
    this.socket.write(`${line}\r\n`, 'utf8');
  }

  private sendMany(lines: string[]): void {
    if (this.failure) throw this.failure;
    for (const l of lines) this.log?.debug({ pop3: this.where }, `pop3 C: ${l}`);
    this.socket.write(lines.map((l) => `${l}\r\n`).join(''), 'utf8');
  }

  private protocolError(message: string, hint?: string): MailferryError {
    const err = new MailferryError('PROTOCOL', message, {
      hint: hint ?? `is ${this.where} really a POP3 server?`,
    });
    this.fail(err);
    return err;
  }

  /** One CRLF- (or LF-) terminated line, without its line ending. */
  private async readLine(): Promise<Buffer> {
    let acc: Buffer | null = null;
    for (;;) {
      const chunk = await this.pull();
      const from = acc ? acc.length : 0;
      const buf: Buffer = acc ? Buffer.concat([acc, chunk]) : chunk;
      const nl = buf.indexOf(0x0a, from);
      if (nl >= 0) {
        this.unshift(buf.subarray(nl + 1));
        const end = nl > 0 && buf[nl - 1] === 0x0d ? nl - 1 : nl;
        return buf.subarray(0, end);
      }
      if (buf.length > MAX_STATUS_LINE) {
        throw this.protocolError(`POP3 server ${this.where} sent an over-long line while we waited for ${this.activity}`);
      }
      acc = buf;
    }
  }

  private async readStatus(what: string, allowContinuation = false): Promise<Status> {
    this.activity = what;
    const line = await this.readLine();
    // Status lines are protocol text, not message bytes.
    const text = line.toString('utf8');
    const upper = text.slice(0, 4).toUpperCase();
    let status: Status;
    if (upper.startsWith('+OK') && (text.length === 3 || text[3] === ' ')) {
      status = { ok: true, cont: false, text: text.slice(4) };
    } else if (upper === '-ERR' && (text.length === 4 || text[4] === ' ')) {
      status = { ok: false, cont: false, text: text.slice(5) };
    } else if (allowContinuation && (text === '+' || text.startsWith('+ '))) {
      status = { ok: false, cont: true, text: text.slice(2) };
    } else {
      throw this.protocolError(
        `POP3 server ${this.where} answered ${what} with garbage: "${sanitize(text, this.secrets, 80)}"`,
      );
    }
    this.log?.debug({ pop3: this.where }, `pop3 S: ${status.cont ? '+' : status.ok ? '+OK' : '-ERR'} ${sanitize(status.text, this.secrets)}`);
    return status;
  }

  /**
   * Read a multi-line body to its terminator. Past `limit`: 'fail' stops keeping bytes, reads
   * (drops) the rest and throws MESSAGE_TOO_LARGE, so the session stays usable; 'cut' keeps the
   * first `limit` bytes and drops the rest. Neither reads without end: past `cutOffAt` (default
   * twice the limit and a megabyte more) the server is cut off, since a hostile one can send
   * faster than any timeout fires. With `discard`, keep nothing.
   */
  private async readBody(what: string, o: BodyLimits = {}): Promise<Buffer> {
    this.activity = what;
    const { limit, n, discard = false, over = 'fail' } = o;
    const cutOffAt = o.cutOffAt ?? (limit === undefined ? Infinity : limit * 2 + (1 << 20));
    const dec = new MultilineDecoder();
    const parts: Buffer[] = [];
    let total = 0;
    let seen = 0;
    let passed = false;
    for (;;) {
      const chunk = await this.pull();
      const r = dec.push(chunk);
      for (const p of r.chunks) seen += p.length;
      if (seen > cutOffAt && !r.done) {
        const e = new MailferryError('PROTOCOL', `POP3 server ${this.where} sent more than ${cutOffAt} bytes as ${what} without ending it`, { hint: 'the server misbehaves; rerun later' });
        this.fail(e);
        throw e;
      }
      if (o.fields) {
        for (const p of r.chunks) if (!o.fields.done) o.fields.feed(p);
      } else if (!passed && !discard) {
        for (const p of r.chunks) {
          total += p.length;
          parts.push(p);
        }
        if (limit !== undefined && total > limit) {
          passed = true;
          const kept = over === 'cut' ? Buffer.concat(parts, total).subarray(0, limit) : undefined;
          parts.length = 0;
          total = 0;
          if (kept) (parts.push(kept), (total = kept.length));
        }
      }
      if (r.done) {
        this.unshift(r.rest);
        break;
      }
    }
    if (passed && over === 'fail') throw this.tooLarge(n ?? 0, `more than ${limit} bytes`);
    if (o.fields) return o.fields.block();
    return discard ? Buffer.alloc(0) : Buffer.concat(parts, total);
  }

  /** A listing (UIDL, LIST) of at most MAX_LISTING bytes; more is a server to cut off. */
  private readListing(what: string): Promise<Buffer> {
    return this.readBody(what, { cutOffAt: MAX_LISTING });
  }

  private tooLarge(n: number, size: string): MailferryError {
    return new MailferryError('MESSAGE_TOO_LARGE', `POP3 message ${n} on ${this.where} is too large (${size}; the limit is ${this.maxMessageBytes} bytes)`, {
      scope: 'message',
      hint: 'raise the message size limit to copy it',
      retryable: false,
    });
  }

  private tooLargeByList(n: number): MailferryError | null {
    const max = this.maxMessageBytes;
    const size = this.sizes?.get(n);
    if (max === undefined || size === undefined || size <= max) return null;
    return this.tooLarge(n, `${size} bytes according to LIST`);
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.mutex.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  // ---------------------------------------------------------------- session setup

  private async readGreeting(): Promise<void> {
    await this.exclusive(async () => {
      let st: Status;
      try {
        st = await this.readStatus('the greeting');
      } catch (err) {
        if (err instanceof MailferryError && err.code === 'TIMEOUT' && this.opts.tls !== 'implicit') {
          throw new MailferryError('TIMEOUT', `no POP3 greeting from ${this.where} within ${this.timeoutMs} ms`, {
            hint: 'if this port expects TLS from the start, as pop3s on port 995 does, use --source-tls implicit',
            cause: err,
          });
        }
        throw err;
      }
      if (!st.ok) {
        throw new MailferryError('NETWORK', `POP3 server ${this.where} refused the session: ${sanitize(st.text, this.secrets)}`, {
          hint: 'the server may be overloaded or limiting connections; retry later',
        });
      }
    });
  }

  private async startTls(): Promise<void> {
    const caps = await this.capa();
    if (!caps || !caps.has('STLS')) {
      throw new MailferryError('TLS_UNAVAILABLE', `POP3 server ${this.where} does not offer STARTTLS (no STLS in its CAPA)`, {
        hint: 'use --source-tls none to connect without encryption, or pop3s: --source-tls implicit, usually port 995',
      });
    }
    await this.exclusive(async () => {
      this.send('STLS');
      const st = await this.readStatus('the STLS answer');
      if (!st.ok) {
        throw new MailferryError('TLS_UNAVAILABLE', `POP3 server ${this.where} refused STLS: ${sanitize(st.text, this.secrets)}`, {
          hint: 'use --source-tls none to connect without encryption, or pop3s: --source-tls implicit, usually port 995',
        });
      }
      if (this.queued > 0) {
        // Bytes sent before the handshake would be read as if they came over TLS (CVE-2011-0411 style).
        throw this.protocolError(`POP3 server ${this.where} sent data after +OK to STLS, before the TLS handshake`);
      }
      const plain = this.socket;
      this.detach(plain);
      plain.on('error', () => undefined);
      if (this.paused) {
        this.paused = false;
        plain.resume();
      }
      const secure = await this.upgrade(plain);
      this.socket = secure;
      this.attach(secure);
      this.tlsActive = true;
      this.capsCache = undefined;
    });
  }

  private upgrade(plain: net.Socket): Promise<tls.TLSSocket> {
    const o = this.opts;
    const sock = tls.connect({
      socket: plain,
      host: o.host,
      servername: o.servername ?? (net.isIP(o.host) ? undefined : o.host),
      ca: o.ca,
      secureContext: o.secureContext,
      rejectUnauthorized: o.rejectUnauthorized,
    });
    return whenReady(
      sock,
      'secureConnect',
      this.timeoutMs,
      {
        error: (err) => mapSocketError(err, o.host, o.port, 'tls'),
        closed: () => new MailferryError('NETWORK', `POP3 server ${this.where} closed the connection during the TLS handshake`),
        timeout: () => new MailferryError('TIMEOUT', `TLS handshake with ${this.where} timed out after ${this.timeoutMs} ms`),
      },
      (err) => {
        plain.destroy();
        this.fail(err);
      },
    );
  }

  // ---------------------------------------------------------------- commands

  /**
   * CAPA (RFC 2449): the capability lines, keyword upper-cased ("SASL PLAIN LOGIN", "PIPELINING",
   * "STLS", ...), or null when the server does not know CAPA. Asked afresh each call; the result
   * is remembered until STLS or login change the session state.
   */
  async capa(): Promise<Set<string> | null> {
    return this.exclusive(async () => {
      this.send('CAPA');
      const st = await this.readStatus('the CAPA answer');
      if (!st.ok) {
        this.capsCache = null;
        return null;
      }
      const body = await this.readBody('the CAPA list', { limit: 1 << 20 });
      const caps = new Set<string>();
      for (const line of listingLines(body)) {
        const sp = line.indexOf(' ');
        caps.add(sp < 0 ? line.toUpperCase() : `${line.slice(0, sp).toUpperCase()}${line.slice(sp)}`);
      }
      this.capsCache = caps;
      return caps;
    });
  }

  private async caps(): Promise<Set<string> | null> {
    if (this.capsCache !== undefined) return this.capsCache;
    return this.capa();
  }

  private static saslMechanisms(caps: Set<string> | null): Set<string> {
    const out = new Set<string>();
    if (!caps) return out;
    for (const c of caps) {
      if (c === 'SASL' || c.startsWith('SASL ')) {
        for (const m of c.slice(4).trim().split(/\s+/)) if (m) out.add(m.toUpperCase());
      }
    }
    return out;
  }

  /**
   * Log in. With a password: AUTH PLAIN when CAPA lists SASL PLAIN, otherwise USER/PASS. With an
   * OAuth 2.0 bearer token (`xoauth2`): AUTH XOAUTH2 only, never the token as a password; a server
   * that does not list it is refused before anything is sent. A refusal is AUTH_FAILED. The
   * password or token never appears in logs or errors.
   */
  async login(user: string, secret: string, mech: 'password' | 'xoauth2' = 'password'): Promise<void> {
    if (/[\r\n\0\x01]/.test(user) || /[\r\n\0]/.test(secret) || (mech === 'xoauth2' && secret.includes('\x01'))) {
      throw new MailferryError('BAD_CONFIG', `the POP3 user name or ${mech === 'xoauth2' ? 'token' : 'password'} contains a line break or control character`, {
        hint: 'check the configured credentials',
      });
    }
    const mechs = Pop3Client.saslMechanisms(await this.caps());
    if (mech === 'xoauth2') {
      if (!mechs.has('XOAUTH2')) {
        throw new MailferryError('AUTH_FAILED', `${this.where} does not offer the XOAUTH2 login method`, { hint: 'drop --source-auth xoauth2 to log in with a password' });
      }
      // The XOAUTH2 initial response (Google's and Microsoft's format).
      const b64 = Buffer.from(`user=${user}\x01auth=Bearer ${secret}\x01\x01`, 'utf8').toString('base64');
      this.secrets.push(secret, b64);
      await this.exclusive(() => this.sasl('XOAUTH2', b64, user));
    } else {
      const b64 = Buffer.from(`\0${user}\0${secret}`, 'utf8').toString('base64');
      this.secrets.push(secret, b64);
      await this.exclusive(async () => {
        if (mechs.has('PLAIN')) return this.sasl('PLAIN', b64, user);
        this.send(`USER ${user}`);
        let st = await this.readStatus('the USER answer');
        if (!st.ok) throw this.authFailed(user, st, 'USER');
        this.send(`PASS ${secret}`, 'PASS ***');
        st = await this.readStatus('the PASS answer');
        if (!st.ok) throw this.authFailed(user, st, 'PASS');
      });
    }
    this.capsCache = undefined;
    this.sizes = null;
  }

  /**
   * One SASL exchange (RFC 5034): the initial response on the AUTH line when it fits in 255
   * octets, else after the server's "+". A challenge after the response is a refusal: XOAUTH2
   * reports a refused token that way (base64 JSON, whose status is kept for the error) and wants
   * an empty response before its -ERR; any other mechanism's exchange is cancelled with "*".
   */
  private async sasl(mech: string, b64: string, user: string): Promise<void> {
    let st: Status;
    const full = `AUTH ${mech} ${b64}`;
    if (full.length <= MAX_AUTH_LINE) {
      this.send(full, `AUTH ${mech} ***`);
      st = await this.readStatus('the AUTH answer', true);
    } else {
      this.send(`AUTH ${mech}`);
      st = await this.readStatus('the AUTH answer', true);
      if (st.cont) {
        this.send(b64, '***');
        st = await this.readStatus('the AUTH answer', true);
      }
    }
    if (st.cont) {
      const why = saslErrorStatus(st.text);
      // XOAUTH2: an empty response asks for the server's verdict; else cancel (RFC 5034 "*").
      this.send(mech === 'XOAUTH2' ? '' : '*', mech === 'XOAUTH2' ? '(empty response)' : '*');
      st = await this.readStatus('the AUTH answer');
      throw this.authFailed(user, { ok: false, cont: false, text: [st.text, why].filter(Boolean).join(' ') || 'unexpected SASL challenge' }, `AUTH ${mech}`);
    }
    if (!st.ok) throw this.authFailed(user, st, `AUTH ${mech}`);
  }

  private authFailed(user: string, st: Status, step: string): MailferryError {
    const text = sanitize(st.text, this.secrets);
    const code = responseCode(st.text);
    let hint = step === 'AUTH XOAUTH2' ? 'check the user name, and that the token is for this account and not expired' : 'check the user name and password';
    let retryable = false;
    if (code === 'IN-USE') {
      // Dovecot says [IN-USE] both for a maildrop another session holds and for its limit of
      // sessions per user and address (mail_max_userip_connections).
      hint = "the mailbox is locked by another session, or the server's limit of sessions for this account is reached: close other mail clients of this account, or retry later";
      retryable = true;
    } else if (code === 'SYS/TEMP' || code === 'LOGIN-DELAY') {
      hint = 'the server asked to retry later';
      retryable = true;
    } else if (!this.tlsActive) {
      hint += '; some servers refuse passwords on unencrypted connections: try --source-tls starttls or implicit';
    }
    // [IN-USE], [SYS/TEMP], [LOGIN-DELAY]: not a wrong password but "try later" — transient (exit 5).
    return new MailferryError(retryable ? 'THROTTLED' : 'AUTH_FAILED', `POP3 login as "${user}" on ${this.where} failed at ${step}: ${text || '-ERR'}`, {
      hint,
      retryable,
      retryAfterMs: retryable ? suggestedBackoffMs(text) : undefined,
    });
  }

  private async simple(cmd: string, what: string): Promise<Status> {
    this.send(cmd);
    return this.readStatus(what);
  }

  /** STAT: number of messages and total size in octets. */
  async stat(): Promise<Pop3Stat> {
    return this.exclusive(async () => {
      const st = await this.simple('STAT', 'the STAT answer');
      if (!st.ok) throw new MailferryError('PROTOCOL', `POP3 STAT failed on ${this.where}: ${sanitize(st.text, this.secrets)}`);
      const m = /^(\d+)\s+(\d+)/.exec(st.text);
      if (!m) throw this.protocolError(`POP3 server ${this.where} sent an unreadable STAT answer: "${sanitize(st.text, this.secrets, 80)}"`);
      return { count: Number(m[1]), size: Number(m[2]) };
    });
  }

  /**
   * UIDL: message numbers and their unique ids, in server order. The id is the rest of the line,
   * trimmed: RFC 1939 has it one word, but Dovecot with pop3_reuse_xuidl gives a message the text
   * of its own X-UIDL: header, which may hold spaces ("5 has space") or be empty ("1 ", uid '').
   * Which keys these make is the source's business (keys.ts); here a line is only read.
   */
  async uidl(): Promise<Pop3Uid[]> {
    return this.exclusive(async () => {
      const st = await this.simple('UIDL', 'the UIDL answer');
      if (!st.ok) {
        // "Try later" is transient; any other refusal is a server without UIDL, which no rerun
        // changes: a configuration error (exit 3), not a network one (exit 5).
        const code = responseCode(st.text);
        const later = code === 'SYS/TEMP' || code === 'IN-USE';
        throw new MailferryError(later ? 'THROTTLED' : 'BAD_CONFIG', `POP3 server ${this.where} refused UIDL: ${sanitize(st.text, this.secrets)}`, {
          hint: later ? 'the server asked to retry later' : 'mailferry needs UIDL as the stable message key; this server does not support it',
          retryAfterMs: later ? suggestedBackoffMs(st.text) : undefined,
        });
      }
      const body = await this.readListing('the UIDL list');
      const out: Pop3Uid[] = [];
      for (const line of listingLines(body)) {
        const m = /^(\d+)(?:[ \t](.*))?$/s.exec(line);
        if (!m) throw new MailferryError('PROTOCOL', `POP3 server ${this.where} sent an unreadable UIDL line: "${sanitize(line, this.secrets, 80)}"`);
        out.push({ n: Number(m[1]), uid: (m[2] ?? '').trim() });
      }
      return out;
    });
  }

  /** LIST: message number → size in octets. Also remembered for the maxMessageBytes pre-check. */
  async list(): Promise<Map<number, number>> {
    return this.exclusive(async () => {
      const st = await this.simple('LIST', 'the LIST answer');
      if (!st.ok) throw new MailferryError('PROTOCOL', `POP3 LIST failed on ${this.where}: ${sanitize(st.text, this.secrets)}`);
      const body = await this.readListing('the LIST listing');
      const out = new Map<number, number>();
      for (const line of listingLines(body)) {
        const m = /^(\d+)[ \t]+(\d+)/.exec(line);
        if (!m) throw new MailferryError('PROTOCOL', `POP3 server ${this.where} sent an unreadable LIST line: "${sanitize(line, this.secrets, 80)}"`);
        out.set(Number(m[1]), Number(m[2]));
      }
      this.sizes = out;
      return new Map(out);
    });
  }

  private retrRefused(n: number, st: Status): MailferryError {
    const e = new MailferryError('MESSAGE_FAILED', `POP3 server ${this.where} refused RETR ${n}: ${sanitize(st.text, this.secrets)}`, {
      scope: 'message',
    });
    if (saysExpunged(n, st.text)) expungedAnswers.add(e);
    return e;
  }

  /** Read one RETR response completely. Message-level problems are returned; connection problems thrown. */
  private async readRetr(n: number, discard = false): Promise<RetrResult> {
    const st = await this.readStatus(`the RETR ${n} answer`);
    if (!st.ok) return { error: this.retrRefused(n, st) };
    try {
      const body = await this.readBody(`message ${n} (RETR)`, { limit: this.maxMessageBytes, n, discard });
      return { body };
    } catch (err) {
      if (err instanceof MailferryError && err.code === 'MESSAGE_TOO_LARGE') return { error: err };
      throw err;
    }
  }

  /**
   * RETR as a stream of body chunks: dot-unstuffed, CRLF preserved, never decoded. Holds the
   * connection until the iteration ends; breaking out early reads and discards the rest of the
   * message so the session stays usable. Do not await another command on this client while
   * iterating (it would wait for this one).
   */
  async *retr(n: number): AsyncGenerator<Buffer, void, undefined> {
    checkMessageNumber(n);
    const release = await this.mutex.acquire();
    const dec = new MultilineDecoder();
    let inBody = false;
    try {
      const pre = this.tooLargeByList(n);
      if (pre) throw pre;
      this.send(`RETR ${n}`);
      const st = await this.readStatus(`the RETR ${n} answer`);
      if (!st.ok) throw this.retrRefused(n, st);
      inBody = true;
      this.activity = `message ${n} (RETR)`;
      const max = this.maxMessageBytes;
      for (;;) {
        const chunk = await this.pull();
        const r = dec.push(chunk);
        if (r.done) {
          inBody = false;
          this.unshift(r.rest);
        }
        if (max !== undefined && dec.bytes > max) {
          if (inBody) await this.drain(dec, max * 2 + (1 << 20));
          inBody = false;
          throw this.tooLarge(n, `more than ${max} bytes`);
        }
        for (const piece of r.chunks) yield piece;
        if (r.done) return;
      }
    } finally {
      try {
        if (inBody && !this.failure) await this.drain(dec, this.maxMessageBytes === undefined ? Infinity : this.maxMessageBytes * 2 + (1 << 20));
      } catch {
        // The connection has failed; later commands report it.
      } finally {
        release();
      }
    }
  }

  /** Read the rest of a body and drop it; past `cutOffAt` bytes in all, cut the server off. */
  private async drain(dec: MultilineDecoder, cutOffAt = Infinity): Promise<void> {
    while (!dec.done) {
      const r = dec.push(await this.pull());
      if (r.done) this.unshift(r.rest);
      else if (dec.bytes > cutOffAt) {
        const e = new MailferryError('PROTOCOL', `POP3 server ${this.where} sent more than ${cutOffAt} bytes as ${this.activity} without ending it`, { hint: 'the server misbehaves; rerun later' });
        this.fail(e);
        throw e;
      }
    }
  }

  /** RETR as a Node Readable of body bytes (see `retr`). */
  retrStream(n: number): Readable {
    return Readable.from(this.retr(n), { objectMode: false });
  }

  /** RETR into one Buffer (bounded by maxMessageBytes). */
  async retrBuffer(n: number): Promise<Buffer> {
    checkMessageNumber(n);
    return this.exclusive(async () => {
      const pre = this.tooLargeByList(n);
      if (pre) throw pre;
      this.send(`RETR ${n}`);
      const r = await this.readRetr(n);
      if ('error' in r) throw r.error;
      return r.body;
    });
  }

  /**
   * RETR many messages, delivering bodies in the order of `ns`. When the server advertises
   * PIPELINING, up to `window` RETRs are in flight; otherwise one after another. `onMessage` is
   * awaited before the next body is read, so memory holds one body plus what sits in socket
   * buffers. A message-scoped failure (refused RETR, MESSAGE_TOO_LARGE) goes to `onMessageError`
   * when given and the batch goes on; without it the batch stops and rejects with that error.
   * When the batch stops early, responses already asked for are read and discarded first.
   */
  async retrMany(
    ns: readonly number[],
    onMessage: (n: number, body: Buffer) => Promise<void> | void,
    window: number = DEFAULT_PIPELINE_WINDOW,
    onMessageError?: (n: number, err: MailferryError) => Promise<void> | void,
  ): Promise<void> {
    if (!Number.isSafeInteger(window) || window < 1) throw new RangeError('retrMany window must be a positive integer');
    for (const n of ns) checkMessageNumber(n);
    if (ns.length === 0) return;
    const caps = await this.caps();
    const depth = caps?.has('PIPELINING') ? window : 1;
    const release = await this.mutex.acquire();
    let sent = 0;
    let done = 0;
    const precheck = new Map<number, MailferryError>();
    try {
      while (done < ns.length) {
        const batch: string[] = [];
        while (sent < ns.length && sent - done < depth && (batch.length > 0 || sent - done <= refillAt(depth))) {
          const n = ns[sent]!;
          const pre = this.tooLargeByList(n);
          if (pre) precheck.set(sent, pre);
          else batch.push(`RETR ${n}`);
          sent++;
        }
        if (batch.length > 0) this.sendMany(batch);
        const n = ns[done]!;
        const pre = precheck.get(done);
        const result: RetrResult = pre ? { error: pre } : await this.readRetr(n);
        done++;
        if ('body' in result) await onMessage(n, result.body);
        else if (onMessageError) await onMessageError(n, result.error);
        else throw result.error;
      }
    } catch (err) {
      if (!this.failure) {
        try {
          for (let k = done; k < sent; k++) if (!precheck.has(k)) await this.readRetr(ns[k]!, true);
        } catch {
          // The connection failed while draining; later commands report it.
        }
      }
      throw err;
    } finally {
      release();
    }
  }

  /** TOP: the header block and the first `lines` body lines. */
  async top(n: number, lines: number): Promise<Buffer> {
    checkMessageNumber(n);
    if (!Number.isSafeInteger(lines) || lines < 0) throw new RangeError('TOP line count must be a non-negative integer');
    return this.exclusive(async () => {
      const st = await this.simple(`TOP ${n} ${lines}`, `the TOP ${n} answer`);
      if (!st.ok) {
        throw new MailferryError('MESSAGE_FAILED', `POP3 server ${this.where} refused TOP ${n}: ${sanitize(st.text, this.secrets)}`, {
          scope: 'message',
        });
      }
      return this.readBody(`message ${n} (TOP)`, { limit: this.maxMessageBytes, n });
    });
  }

  /**
   * TOP for many messages, pipelined like `retrMany` when the server advertises PIPELINING.
   * `onTop` gets each message's header block (plus `lines` body lines), or null when the server
   * refused TOP for it. Used for header-first dedupe before any body is downloaded. A header
   * alone (`lines` 0) is read to its end however long it is, and only its `fields` (the first of
   * each name, mail/header-fields.ts) are kept and given.
   */
  async topMany(
    ns: readonly number[],
    lines: number,
    onTop: (n: number, head: Buffer | null) => Promise<void> | void,
    window: number = DEFAULT_PIPELINE_WINDOW * 4,
    fields: readonly string[] = TOP_FIELDS,
  ): Promise<void> {
    if (!Number.isSafeInteger(window) || window < 1) throw new RangeError('topMany window must be a positive integer');
    if (!Number.isSafeInteger(lines) || lines < 0) throw new RangeError('TOP line count must be a non-negative integer');
    for (const n of ns) checkMessageNumber(n);
    if (ns.length === 0) return;
    const caps = await this.caps();
    const depth = caps?.has('PIPELINING') ? window : 1;
    const release = await this.mutex.acquire();
    let sent = 0;
    let done = 0;
    try {
      while (done < ns.length) {
        const batch: string[] = [];
        while (sent < ns.length && sent - done < depth && (batch.length > 0 || sent - done <= refillAt(depth))) batch.push(`TOP ${ns[sent++]!} ${lines}`);
        if (batch.length > 0) this.sendMany(batch);
        const n = ns[done]!;
        const st = await this.readStatus(`the TOP ${n} answer`);
        // Of a header (TOP n 0) only the fields asked for are kept, read to the header's end
        // however long it is; past the larger of the message limit and 64 MB the server is cut
        // off (a header of a message over a small --max-message-size is still read: that message
        // is reported, not the session failed).
        const topCutOff = Math.max(this.maxMessageBytes ?? 0, MAX_LISTING);
        const head = st.ok
          ? await this.readBody(`message ${n} (TOP)`, lines === 0 ? { fields: new HeaderFields(fields), n, cutOffAt: topCutOff } : { limit: this.maxMessageBytes, n })
          : null;
        done++;
        try {
          await onTop(n, head);
        } catch (err) {
          // The caller stopped the pass (a run stopping): the answers in flight are not waited
          // for; the connection is dropped as it stands (nothing is marked in it).
          this.close();
          throw err;
        }
      }
    } catch (err) {
      if (!this.failure) {
        try {
          for (let k = done; k < sent; k++) {
            const st = await this.readStatus(`the TOP ${ns[k]!} answer`);
            if (st.ok) await this.readBody(`message ${ns[k]!} (TOP)`, { discard: true, cutOffAt: Math.max(this.maxMessageBytes ?? 0, MAX_LISTING) });
          }
        } catch {
          // The connection failed while draining; later commands report it.
        }
      }
      throw err;
    } finally {
      release();
    }
  }

  /** True once the connection has failed or was closed: every later command rejects. */
  get broken(): boolean {
    return this.failure !== null;
  }

  /** DELE: mark a message deleted (takes effect at QUIT). */
  async dele(n: number): Promise<void> {
    checkMessageNumber(n);
    await this.exclusive(async () => {
      const st = await this.simple(`DELE ${n}`, `the DELE ${n} answer`);
      if (!st.ok) {
        throw new MailferryError('MESSAGE_FAILED', `POP3 server ${this.where} refused DELE ${n}: ${sanitize(st.text, this.secrets)}`, {
          scope: 'message',
        });
      }
    });
  }

  async noop(): Promise<void> {
    await this.exclusive(async () => {
      const st = await this.simple('NOOP', 'the NOOP answer');
      if (!st.ok) throw new MailferryError('PROTOCOL', `POP3 NOOP failed on ${this.where}: ${sanitize(st.text, this.secrets)}`);
    });
  }

  /** RSET: unmark messages marked deleted in this session. */
  async rset(): Promise<void> {
    await this.exclusive(async () => {
      const st = await this.simple('RSET', 'the RSET answer');
      if (!st.ok) throw new MailferryError('PROTOCOL', `POP3 RSET failed on ${this.where}: ${sanitize(st.text, this.secrets)}`);
    });
  }

  /**
   * QUIT: ends the session; the server commits DELEs now. Rejects when the connection had already
   * failed (deletions then did not happen) or the server reports it could not remove them.
   */
  async quit(): Promise<void> {
    await this.exclusive(async () => {
      const st = await this.simple('QUIT', 'the QUIT answer');
      this.fail(new MailferryError('NETWORK', `POP3 connection to ${this.where} is closed (after QUIT)`, { retryable: false }));
      if (!st.ok) {
        throw new MailferryError('MAILBOX_FAILED', `POP3 server ${this.where} could not finish the session (messages marked deleted may remain): ${sanitize(st.text, this.secrets)}`, {
          scope: 'mailbox',
        });
      }
    });
  }

  /** Destroy the connection now; pending and later commands reject with NETWORK. */
  close(): void {
    this.fail(new MailferryError('NETWORK', `POP3 connection to ${this.where} was closed by mailferry`, { retryable: false }));
  }
}
