/**
 * Connection options for a test that talks IMAP in-process (connectImap), to a server on
 * loopback without TLS: a fake server or the harness's Dovecot.
 */
import type { NetOptions } from '../../src/drivers/net-options.js';
import { silentLogger } from '../../src/log.js';

export function plainImapOptions(o: { host?: string; port: number; user: string; password?: string; timeoutMs: number }): NetOptions {
  return {
    endpoint: { kind: 'imap', scheme: 'imap', host: o.host ?? '127.0.0.1', port: o.port, user: o.user, tls: 'none' },
    secret: async () => o.password ?? 'pass',
    auth: 'password',
    insecure: false,
    compress: false,
    timeoutMs: o.timeoutMs,
    log: silentLogger,
  } as unknown as NetOptions;
}
