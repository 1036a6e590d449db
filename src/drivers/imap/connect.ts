/** Opening imapflow connections, and turning what imapflow throws into MailferryErrors. */
import { isIP, type Socket } from 'node:net';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { MailferryError, type Scope } from '../../errors.js';
import { registerSecret } from '../../log.js';
import { watchTrickle } from '../trickle.js';
import { budgetAnswers } from './answer-budget.js';
import { TLS_CERT_CODES, tlsCertHint, type NetOptions } from '../net-options.js';
import { isThrottleText, MAX_SUGGESTED_BACKOFF_MS, suggestedBackoffMs } from '../throttle.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../types.js';

interface ImapErrorLike {
  code?: string;
  message?: string;
  authenticationFailed?: boolean;
  tlsFailed?: boolean;
  serverResponseCode?: string;
  responseText?: string;
  responseStatus?: string;
  throttleReset?: number;
  throttleWaited?: number;
  /** BYE text, on a connection the server closed. */
  reason?: unknown;
  /** imapflow: where a command on a closed connection was refused (never sent). */
  rejectedFrom?: string;
  response?: { attributes?: Array<{ section?: Array<{ value?: unknown }> }> };
}

/** The bracketed response code of a tagged NO/BAD ("NO [LIMIT] …" → "LIMIT"). */
function responseCodeOf(e: ImapErrorLike): string | undefined {
  const v = e.serverResponseCode ?? e.response?.attributes?.[0]?.section?.[0]?.value;
  return typeof v === 'string' && v ? v.toUpperCase() : undefined;
}

/** Classify an error from imapflow or the socket beneath it. */
export function classifyImapError(err: unknown, o: NetOptions, scope: Scope = 'run'): MailferryError {
  if (err instanceof MailferryError) return err;
  const e = (err ?? {}) as ImapErrorLike;
  const where = `${o.endpoint.host}:${o.endpoint.port}`;
  const code = e.code ?? '';
  const text = (e.responseText || e.message || String(err)).replace(/\s+/g, ' ').trim();
  if (/unsupported authentication mechanism/i.test(text)) {
    return new MailferryError('AUTH_FAILED', `${where} does not offer the ${o.auth === 'xoauth2' ? 'XOAUTH2' : 'requested'} login method`, {
      hint: o.auth === 'xoauth2' ? 'drop --source-auth/--dest-auth xoauth2 to log in with a password' : 'check the server settings',
    });
  }
  // A login refused for now (a provider's connection limit, "[LIMIT] Maximum number of
  // connections", "[UNAVAILABLE] Temporary authentication failure", Gmail's "Too many simultaneous
  // connections") is no wrong password: it is throttling, below.
  if (e.authenticationFailed && (responseCodeOf(e) === 'AUTHENTICATIONFAILED' || !isThrottleText(text, responseCodeOf(e)))) {
    return new MailferryError('AUTH_FAILED', `login as ${o.endpoint.user} at ${where} failed: ${text}`, {
      hint: 'check the user name and the password source',
    });
  }
  if (TLS_CERT_CODES.has(code)) {
    return new MailferryError('TLS_FAILED', `TLS certificate of ${where} not trusted: ${(e.message || code).replace(/\s+/g, ' ').trim()} (${code})`, {
      hint: tlsCertHint(code),
    });
  }
  // imapflow marks every failure of the STARTTLS upgrade tlsFailed: a server that cannot do it
  // (its own words, no code), data slipped in before the handshake, and a handshake the link broke
  // (ECONNRESET, a timeout: those are the network's, classified below, and retried).
  if (e.tlsFailed && code === 'STARTTLS_INJECTION') {
    return new MailferryError('TLS_FAILED', `${where} sent data after its STARTTLS answer, before the TLS handshake (a possible attack on the connection): nothing was sent`, {
      hint: 'check the network path to the server; imaps:// avoids STARTTLS',
    });
  }
  if (e.tlsFailed && !code) {
    if (/PREAUTH/i.test(text)) {
      return new MailferryError('TLS_UNAVAILABLE', `${where} greeted with PREAUTH (a session without a login), where STARTTLS is not possible: nothing was sent`, {
        hint: 'use imaps:// if it has a TLS port',
      });
    }
    return new MailferryError('TLS_UNAVAILABLE', `${where} does not offer STARTTLS`, {
      hint: `use imaps:// if it has a TLS port, or --source-tls/--dest-tls none to send the password in clear (unsafe)`,
    });
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|unknown protocol/i.test(text)) {
    return new MailferryError('TLS_FAILED', `TLS handshake with ${where} failed: the port does not speak TLS`, {
      hint: `use imap:// (STARTTLS) for a plain port, or the server's TLS port (993)`,
    });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new MailferryError('NETWORK', `host ${o.endpoint.host} not found`, { hint: 'check the host name for typos' });
  }
  if (code === 'ECONNREFUSED') {
    return new MailferryError('NETWORK', `connection to ${where} refused`, { hint: 'check the host and port; is the server running?' });
  }
  if (code === 'GREETING_TIMEOUT') {
    return new MailferryError('TIMEOUT', `${where} sent no IMAP greeting`, {
      hint: o.endpoint.tls === 'implicit' ? 'is this a TLS port?' : 'if this is a TLS port (993), use imaps://',
    });
  }
  if (code === 'CONNECT_TIMEOUT' || code === 'ETIMEDOUT' || code === 'UPGRADE_TIMEOUT') {
    return new MailferryError('TIMEOUT', `${where} timed out (${code})`, { hint: 'the network or server is slow or down; rerun to resume', scope });
  }
  if (code === 'ETIMEOUT') {
    return new MailferryError('TIMEOUT', `${where} sent nothing for ${Math.round(o.timeoutMs / 1000)} s`, { hint: 'the server stalled; raise --timeout on slow links, rerun to resume', scope });
  }
  if (code === 'LiteralTooLarge') {
    // A literal larger than any message we accept: a lie about a size, or a hostile server. In
    // the answer to a command of the whole run (LIST, the login), no message is to blame.
    if (scope === 'run') return new MailferryError('PROTOCOL', `${where} sent ${text} in its answer`, { scope, retryable: false, hint: 'is this really an IMAP server?' });
    return new MailferryError('MESSAGE_TOO_LARGE', `${where} sent ${text}`, { scope: 'message', retryable: false, hint: 'raise --max-message-size if the message is real' });
  }
  if (code === 'LineTooLarge' || code === 'TooManyTokens' || /^ParserError/.test(code) || code === 'MAX_IMAP_NESTING_REACHED') {
    return new MailferryError('PROTOCOL', `${where} sent an unreadable response (${code})`, { scope, retryable: true, hint: 'is this really an IMAP server?' });
  }
  if (code === 'ETHROTTLE' || ((e.responseStatus || e.authenticationFailed) && responseCodeOf(e) !== 'AUTHENTICATIONFAILED' && isThrottleText(text, responseCodeOf(e)))) {
    // imapflow already waited `throttleWaited` of the suggested time before rejecting.
    const suggested = e.throttleReset ?? suggestedBackoffMs(text);
    const rest = suggested === undefined ? undefined : Math.max(0, Math.min(suggested, MAX_SUGGESTED_BACKOFF_MS) - (e.throttleWaited ?? 0));
    // cause: an ETHROTTLE was already reported through onThrottle (see the logger below).
    return new MailferryError('THROTTLED', `${where} is throttling: ${responseCodeOf(e) ? `[${responseCodeOf(e)}] ` : ''}${text}`, { scope, retryAfterMs: rest, hint: 'mailferry backs off and retries; lower --concurrency if it persists', cause: code === 'ETHROTTLE' ? err : undefined });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'NoConnection' || code === 'ClosedAfterConnectTLS' || code === 'ClosedAfterConnectText' || /closed|socket|connection/i.test(code)) {
    const bye = typeof e.reason === 'string' ? e.reason.replace(/\s+/g, ' ').trim().slice(0, 200) : undefined;
    if (bye && isThrottleText(bye)) {
      return new MailferryError('THROTTLED', `${where} closed the connection: ${bye}`, { scope, retryAfterMs: suggestedBackoffMs(bye) });
    }
    // Refused before it was written (the connection had closed since it was last used): the
    // command never reached the server, so nothing it would have answered is to blame.
    const unsent = code === 'NoConnection' && (e.rejectedFrom === 'writeNoSocket' || e.rejectedFrom === 'sendAfterLogout' || e.rejectedFrom === 'execClosed');
    return new MailferryError('NETWORK', `connection to ${where} lost: ${bye ?? text}`, { hint: 'rerun to resume', scope, ...(unsent ? { unsent } : {}) });
  }
  if (code === 'InvalidStringValue') {
    return new MailferryError('BAD_MAILBOX_NAME', `a name holds characters IMAP cannot carry (${text})`, { scope: 'mailbox', retryable: false });
  }
  if (code === 'NotFound' || responseCodeOf(e) === 'NONEXISTENT' || /doesn't exist|does not exist|mailbox not found|unknown mailbox/i.test(text)) {
    return new MailferryError('NO_SUCH_MAILBOX', `no such folder on ${where}: ${text}`, { scope: 'mailbox' });
  }
  if (e.responseStatus === 'NO' || e.responseStatus === 'BAD') {
    return new MailferryError('PROTOCOL', `${where} answered ${e.responseStatus}: ${text}`, { scope, retryable: false });
  }
  return new MailferryError('PROTOCOL', `IMAP error from ${where}: ${text}`, { scope, retryable: true });
}

/** Longest response line without a literal (LIST, STATUS, FETCH metadata lines). */
const MAX_LINE = 16 * 1024 * 1024;

/**
 * Largest literal accepted: the largest message, plus room for a server counting line ends
 * differently; at least 1 MB, so a small --max-message-size still lets the listing's own literals
 * (Message-ID headers, folder names) through: each message over it then fails by its size.
 */
export function literalLimit(o: NetOptions): number {
  const max = o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  return Math.max(max + Math.min(max, 1024 * 1024), 1024 * 1024);
}

/**
 * Some imapflow commands (status()) swallow a failure and return false, logging the error: the
 * last error each connection logged is kept here so the driver can still classify it.
 */
const LAST_ERROR = new WeakMap<ImapFlow, { err?: unknown; stream?: unknown }>();

/** The error a connection last logged (and forgets it). */
export function takeLoggedError(client: ImapFlow): unknown {
  const box = LAST_ERROR.get(client);
  const err = box?.err;
  if (box) box.err = undefined;
  return err;
}

/** A parser failure a connection logged (it is followed by a NoConnection error, which must not hide it). */
function takeStreamError(client: ImapFlow): { code?: string } | undefined {
  const box = LAST_ERROR.get(client);
  const err = box?.stream as { code?: string } | undefined;
  if (box) box.stream = undefined;
  return err;
}

const STREAM_FAILURES = new Set(['LiteralTooLarge', 'LineTooLarge', 'TooManyTokens', 'MAX_IMAP_NESTING_REACHED', 'ETIMEOUT']);

/**
 * Why a command really failed: when the parser refused the server's input (an absurd literal,
 * say) imapflow drops the connection and the command only sees "Connection not available".
 */
export function rootCause(client: ImapFlow, err: unknown): unknown {
  const logged = takeStreamError(client);
  const code = (err as { code?: string } | undefined)?.code;
  // Cut by us (a trickle): that is why, whatever imapflow says of the closed connection.
  if (logged instanceof MailferryError) return logged;
  if (code === 'NoConnection' && logged) return logged;
  return err;
}

/**
 * End a session: LOGOUT when the connection is healthy, bounded by a short wait (a stalled or
 * babbling server never answers it); the socket is closed in any case.
 */
export async function closeImap(client: ImapFlow, graceful = true, waitMs = 2000): Promise<void> {
  if (graceful && client.usable) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([client.logout().catch(() => {}), new Promise<void>((res) => (timer = setTimeout(res, waitMs)))]);
    clearTimeout(timer);
  }
  client.close();
}

export async function connectImap(o: NetOptions): Promise<ImapFlow> {
  const ep = o.endpoint;
  const logged: { err?: unknown; stream?: unknown } = {};
  const keep = (x: unknown, direct?: { code?: string }) => {
    const err = direct ?? (x as { err?: { code?: string } } | undefined)?.err;
    if (!err) return;
    logged.err = err;
    if (err.code && (STREAM_FAILURES.has(err.code) || /^ParserError/.test(err.code))) logged.stream = err;
  };
  const secret = await o.secret();
  // What goes on the wire for it: a server that echoes a SASL response (in an error, say) must not
  // print the password or token in base64 (PLAIN: \0user\0password; XOAUTH2).
  for (const line of [`\0${ep.user}\0${secret}`, `user=${ep.user}\x01auth=Bearer ${secret}\x01\x01`]) {
    registerSecret(Buffer.from(line).toString('base64'));
  }
  const opts: ImapFlowOptions = {
    host: ep.host,
    port: ep.port,
    secure: ep.tls === 'implicit',
    doSTARTTLS: ep.tls === 'starttls' ? true : ep.tls === 'none' ? false : undefined,
    auth: o.auth === 'xoauth2' ? { user: ep.user, accessToken: secret } : { user: ep.user, pass: secret },
    tls: {
      rejectUnauthorized: !o.insecure,
      ...(o.tlsContext ? { secureContext: o.tlsContext } : {}),
      ...(isIP(ep.host) ? {} : { servername: ep.host }),
    },
    logger: {
      // imapflow renders each command and response for its log unless told the level is off:
      // FETCH responses (its 'trace', dropped here) are the bulk of a copy.
      isLevelEnabled: (level: string) => (level === 'trace' ? false : level === 'debug' || level === 'info' ? o.log.enabled('trace') : true),
      trace: () => {},
      debug: (x: unknown) => o.log.trace({ imap: x as Record<string, unknown> }),
      info: (x: unknown) => o.log.trace({ imap: x as Record<string, unknown> }),
      warn: (x: unknown) => {
        // imapflow waits out a throttle answer itself before the error reaches us: this log entry
        // is the only sign of the wait, so it is surfaced here.
        const t = x as { msg?: string; throttleDelay?: number; err?: { responseText?: string } };
        if (t?.msg === 'Throttling detected') o.onThrottle?.({ ms: Number(t.throttleDelay) || 0, message: `${o.endpoint.host}: ${t.err?.responseText ?? 'throttled'}` });
        keep(x);
        o.log.debug({ imap: x as Record<string, unknown> });
      },
      error: (x: unknown) => (keep(x), o.log.debug({ imap: x as Record<string, unknown> })),
      fatal: (x: unknown) => (keep(x), o.log.debug({ imap: x as Record<string, unknown> })),
    } as unknown as ImapFlowOptions['logger'],
    disableAutoIdle: true,
    disableCompression: !o.compress,
    connectionTimeout: o.timeoutMs,
    // Below the idle-read timeout, so a silent server is reported as the greeting it did not send.
    greetingTimeout: Math.min(16000, Math.max(1000, o.timeoutMs - 500)),
    // Idle-read timeout: a server that sends nothing for this long, mid-command, is given up on.
    socketTimeout: o.timeoutMs,
    // Untrusted server input: no literal (message, header) beyond the largest message we accept,
    // no line without an end beyond a bound, so a hostile server cannot make us buffer a gigabyte.
    maxLiteralSize: literalLimit(o),
    maxResponseSize: literalLimit(o) + MAX_LINE,
    maxLineLength: MAX_LINE,
    emitLogs: false,
  };
  const client = new ImapFlow(opts);
  // No LSUB after a LIST: imapflow sends one for the folders' subscriptions whenever the LIST
  // found none subscribed (an account that subscribes to nothing: every run), one round trip
  // more, for state a copy never reads. imapflow's own latch for servers that refuse LSUB.
  (client as unknown as { skipLsub: boolean }).skipLsub = true;
  LAST_ERROR.set(client, logged);
  // A command answered without end (huge LIST names, an endless flood of lines) is cut (answer-budget.ts).
  budgetAnswers(client, (budget, command) => {
    logged.stream = new MailferryError('PROTOCOL', `${ep.host}:${ep.port} sent more than ${Math.round(budget / 1048576)} MB answering ${command}: cut`, {
      hint: 'the server misbehaves',
      scope: 'mailbox',
      retryable: false,
    });
    client.close();
  });
  client.on('error', (err: { code?: string }) => {
    // Surfaced through the failing command; kept so that command can tell why (an idle timeout).
    keep(undefined, err);
  });
  // A server that answers a byte now and then is cut (trickle.ts), from the greeting on (imapflow
  // makes its socket as connect() starts; a STARTTLS swaps it for the TLS one, watched after).
  const socketOf = () => (client as unknown as { socket?: Socket }).socket || undefined;
  const watch = (socket: Socket | undefined) =>
    socket
      ? watchTrickle(socket, o.timeoutMs, (secs) => {
          logged.stream = new MailferryError('TIMEOUT', `${ep.host}:${ep.port} sent only a trickle for ${secs} s: cut`, { hint: 'the server or the network is failing; rerun to resume', scope: 'mailbox' });
          client.close();
        })
      : () => {};
  const connecting = client.connect();
  const first = socketOf();
  const unwatch = watch(first);
  // A server of another protocol on this port (a POP3 or SMTP port given as imap://) greets at
  // once in its own words, which imapflow passes over until its greeting timeout: said at once.
  first?.once('data', (chunk: Buffer) => {
    const greeting = chunk.toString('latin1', 0, 4);
    const other = /^\+OK\b/.test(greeting) ? 'POP3' : /^220[ -]/.test(greeting) ? 'SMTP' : undefined;
    if (!other) return;
    logged.stream = new MailferryError('PROTOCOL', `${ep.host}:${ep.port} greets as a ${other} server, not IMAP`, {
      hint: `${other === 'POP3' ? 'use pop3:// for this port, or ' : 'give '}the IMAP port: 143, 993 with imaps://`,
      retryable: false,
    });
    client.close();
  });
  try {
    await connecting;
  } catch (err) {
    unwatch();
    client.close();
    throw classifyImapError(rootCause(client, err), o);
  }
  if (socketOf() !== first) (unwatch(), watch(socketOf()));
  if (o.compress && !client.capabilities.has('COMPRESS=DEFLATE')) warnOnce(o, `${ep.host}:${ep.port} does not offer COMPRESS=DEFLATE: --compress has no effect on its connections`);
  return client;
}

const warned = new Set<string>();

/** A warning said once per run however many connections meet the same thing. */
function warnOnce(o: NetOptions, msg: string): void {
  if (warned.has(msg)) return;
  warned.add(msg);
  o.log.warn({ msg });
}
