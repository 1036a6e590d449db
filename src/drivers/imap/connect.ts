/** Opening imapflow connections, and turning what imapflow throws into MailferryErrors. */
import { isIP } from 'node:net';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { MailferryError, type Scope } from '../../errors.js';
import { TLS_CERT_CODES, type NetOptions } from '../net-options.js';

interface ImapErrorLike {
  code?: string;
  message?: string;
  authenticationFailed?: boolean;
  tlsFailed?: boolean;
  serverResponseCode?: string;
  responseText?: string;
  responseStatus?: string;
  throttleReset?: number;
}

/** Classify an error from imapflow or the socket beneath it. */
export function classifyImapError(err: unknown, o: NetOptions, scope: Scope = 'run'): MailferryError {
  if (err instanceof MailferryError) return err;
  const e = (err ?? {}) as ImapErrorLike;
  const where = `${o.endpoint.host}:${o.endpoint.port}`;
  const code = e.code ?? '';
  const text = (e.responseText || e.message || String(err)).replace(/\s+/g, ' ').trim();
  if (e.authenticationFailed) {
    return new MailferryError('AUTH_FAILED', `login as ${o.endpoint.user} at ${where} failed: ${text}`, {
      hint: 'check the user name and the password source',
    });
  }
  if (TLS_CERT_CODES.has(code)) {
    return new MailferryError('TLS_FAILED', `TLS certificate of ${where} not trusted (${code})`, {
      hint: 'add its CA with --tls-ca FILE, or skip verification with --insecure (unsafe)',
    });
  }
  if (e.tlsFailed) {
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
  if (code === 'CONNECT_TIMEOUT' || code === 'ETIMEDOUT' || code === 'ETIMEOUT' || code === 'UPGRADE_TIMEOUT') {
    return new MailferryError('TIMEOUT', `${where} timed out (${code})`, { hint: 'the network or server is slow or down; rerun to resume', scope });
  }
  if (code === 'ETHROTTLE' || /throttl/i.test(text)) {
    return new MailferryError('THROTTLED', `${where} is throttling: ${text}`, { scope, retryAfterMs: e.throttleReset });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'NoConnection' || code === 'ClosedAfterConnectTLS' || code === 'ClosedAfterConnectText' || /closed|socket|connection/i.test(code)) {
    return new MailferryError('NETWORK', `connection to ${where} lost: ${text}`, { hint: 'rerun to resume', scope });
  }
  if (e.serverResponseCode === 'NONEXISTENT' || /doesn't exist|does not exist|mailbox not found|unknown mailbox/i.test(text)) {
    return new MailferryError('NO_SUCH_MAILBOX', `no such folder on ${where}: ${text}`, { scope: 'mailbox' });
  }
  if (e.responseStatus === 'NO' || e.responseStatus === 'BAD') {
    const retryable = ['UNAVAILABLE', 'LIMIT', 'INUSE'].includes(e.serverResponseCode ?? '');
    return new MailferryError(retryable ? 'NETWORK' : 'PROTOCOL', `${where} answered ${e.responseStatus}: ${text}`, { scope, retryable });
  }
  return new MailferryError('PROTOCOL', `IMAP error from ${where}: ${text}`, { scope, retryable: true });
}

export async function connectImap(o: NetOptions): Promise<ImapFlow> {
  const ep = o.endpoint;
  const secret = await o.secret();
  const opts: ImapFlowOptions = {
    host: ep.host,
    port: ep.port,
    secure: ep.tls === 'implicit',
    doSTARTTLS: ep.tls === 'starttls' ? true : ep.tls === 'none' ? false : undefined,
    auth: o.auth === 'xoauth2' ? { user: ep.user, accessToken: secret } : { user: ep.user, pass: secret },
    tls: {
      rejectUnauthorized: !o.insecure,
      ...(o.ca ? { ca: o.ca } : {}),
      ...(isIP(ep.host) ? {} : { servername: ep.host }),
    },
    logger: {
      trace: () => {},
      debug: (x: unknown) => o.log.trace({ imap: x as Record<string, unknown> }),
      info: (x: unknown) => o.log.trace({ imap: x as Record<string, unknown> }),
      warn: (x: unknown) => o.log.debug({ imap: x as Record<string, unknown> }),
      error: (x: unknown) => o.log.debug({ imap: x as Record<string, unknown> }),
      fatal: (x: unknown) => o.log.debug({ imap: x as Record<string, unknown> }),
    } as unknown as ImapFlowOptions['logger'],
    disableAutoIdle: true,
    disableCompression: !o.compress,
    connectionTimeout: o.timeoutMs,
    greetingTimeout: Math.min(o.timeoutMs, 16000),
    socketTimeout: Math.max(o.timeoutMs * 2, 60000),
    emitLogs: false,
  };
  const client = new ImapFlow(opts);
  client.on('error', () => {
    /* surfaced through the failing command */
  });
  try {
    await client.connect();
  } catch (err) {
    client.close();
    throw classifyImapError(err, o);
  }
  return client;
}
