/**
 * What every command that talks to stores shares: endpoint URLs parsed, CA files read, and the
 * NetOptions each network driver gets (secret resolver, auth mechanism, TLS, timeouts).
 */
import { readFileSync } from 'node:fs';
import { readGivenFile } from '../given-file.js';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { MailferryError } from '../errors.js';
import type { NetOptions } from '../drivers/net-options.js';
import type { Logger } from '../log.js';
import type { NetEndpoint, Role, TlsMode } from './endpoint.js';

export type AuthMode = 'password' | 'xoauth2';

export interface NetConfig {
  sourceTls?: TlsMode;
  destTls?: TlsMode;
  tlsCa: string[];
  insecure: boolean;
  compress: boolean;
  timeoutMs: number;
  sourceSecret: () => Promise<string>;
  destSecret: () => Promise<string>;
  sourceAuth?: AuthMode;
  destAuth?: AuthMode;
  /** Reconnect attempts of a control connection after a transient failure (--retries). */
  retries?: number;
  /** --max-message-size: bounds what a server may send as one literal. */
  maxMessageBytes?: number;
  /** Told when a server throttles a control connection. */
  onThrottle?: NetOptions['onThrottle'];
}

/**
 * The CAs to trust when --tls-ca is given: Node's own (its bundled roots, and NODE_EXTRA_CA_CERTS
 * when set) plus the files. A `ca` option replaces Node's defaults, so they are listed again:
 * trusting a private CA for one server must not stop the other (a public CA) from verifying.
 * Built into one TLS context for the run: parsing ~150 certificates costs ~17 ms, per connection
 * if each were given the list.
 */
export async function readCa(files: string[]): Promise<SecureContext | undefined> {
  if (files.length === 0) return undefined;
  const own: Buffer[] = [];
  for (const f of files) {
    let pem: Buffer;
    try {
      pem = (await readGivenFile(f)).bytes;
    } catch (err) {
      throw new MailferryError('BAD_CONFIG', `cannot read --tls-ca ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new MailferryError('BAD_CONFIG', `--tls-ca ${f} holds no PEM certificate`, { hint: 'give the CA certificate as PEM (a file with -----BEGIN CERTIFICATE-----)' });
    }
    own.push(pem);
  }
  const extra: Buffer[] = [];
  const extraFile = process.env.NODE_EXTRA_CA_CERTS;
  if (extraFile) {
    try {
      extra.push(readFileSync(extraFile));
    } catch {
      // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS
    }
  }
  return createSecureContext({ ca: [...rootCertificates, ...extra, ...own] });
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** NetOptions for one role; CA files are read once, here. */
export async function netFactory(cfg: NetConfig, log: Logger): Promise<(role: Role) => (e: NetEndpoint) => NetOptions> {
  const ca = await readCa(cfg.tlsCa);
  // Said once, and only when there is a connection it applies to (not for Maildir to Maildir).
  let warned = false;
  const warnInsecure = () => {
    if (!cfg.insecure || warned) return;
    warned = true;
    log.warn({ msg: `TLS certificates are NOT verified (--insecure): the connection can be intercepted${ca ? ' (--tls-ca is then of no use)' : ''}` });
  };
  // TLS turned off (--source-tls none) for a server that is not this machine: the password
  // crosses the network in clear. Allowed (some LANs have no TLS), but said, once per role.
  const clear = new Set<Role>();
  const warnClear = (role: Role, e: NetEndpoint) => {
    if (e.tls !== 'none' || clear.has(role) || isLoopback(e.host)) return;
    clear.add(role);
    log.warn({ msg: `TLS is off for the ${role === 'source' ? 'source' : 'destination'} (--${role}-tls none): the password and the mail cross the network to ${e.host} in clear` });
  };
  return (role) => (e) => (warnInsecure(), warnClear(role, e), {
    endpoint: e,
    secret: role === 'source' ? cfg.sourceSecret : cfg.destSecret,
    auth: (role === 'source' ? cfg.sourceAuth : cfg.destAuth) ?? 'password',
    tlsContext: ca,
    insecure: cfg.insecure,
    compress: cfg.compress,
    timeoutMs: cfg.timeoutMs,
    retries: cfg.retries,
    maxMessageBytes: cfg.maxMessageBytes,
    onThrottle: cfg.onThrottle,
    log: log.child({ endpoint: e.kind }),
  });
}
