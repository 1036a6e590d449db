/**
 * What every command that talks to stores shares: endpoint URLs parsed, CA files read, and the
 * NetOptions each network driver gets (secret resolver, auth mechanism, TLS, timeouts).
 */
import { readFileSync } from 'node:fs';
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

export function readCa(files: string[]): Buffer[] | undefined {
  if (files.length === 0) return undefined;
  return files.map((f) => {
    try {
      return readFileSync(f);
    } catch (err) {
      throw new MailferryError('BAD_CONFIG', `cannot read --tls-ca ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  });
}

/** NetOptions for one role; CA files are read once, here. */
export function netFactory(cfg: NetConfig, log: Logger): (role: Role) => (e: NetEndpoint) => NetOptions {
  const ca = readCa(cfg.tlsCa);
  if (cfg.insecure) log.warn({ msg: 'TLS certificates are NOT verified (--insecure): the connection can be intercepted' });
  return (role) => (e) => ({
    endpoint: e,
    secret: role === 'source' ? cfg.sourceSecret : cfg.destSecret,
    auth: (role === 'source' ? cfg.sourceAuth : cfg.destAuth) ?? 'password',
    ca,
    insecure: cfg.insecure,
    compress: cfg.compress,
    timeoutMs: cfg.timeoutMs,
    retries: cfg.retries,
    maxMessageBytes: cfg.maxMessageBytes,
    onThrottle: cfg.onThrottle,
    log: log.child({ endpoint: e.kind }),
  });
}
