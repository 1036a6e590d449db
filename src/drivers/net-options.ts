/** Options shared by the network drivers (IMAP, POP3). */
import type { NetEndpoint } from '../engine/endpoint.js';
import type { SecureContext } from 'node:tls';
import type { Logger } from '../log.js';

export interface NetOptions {
  endpoint: NetEndpoint;
  /** Returns the password (or bearer token); called on every (re)connect. */
  secret: () => Promise<string>;
  auth: 'password' | 'xoauth2';
  /** --tls-ca: Node's CAs and the user's, one context for every connection of the run. */
  tlsContext?: SecureContext;
  /** Skip certificate verification. */
  insecure: boolean;
  /** Ask for COMPRESS=DEFLATE (IMAP). Off by default: it costs CPU on fast links. */
  compress: boolean;
  /** Connect, greeting and idle-read timeout. */
  timeoutMs: number;
  /** Largest message accepted (--max-message-size); bounds literals a server may send. */
  maxMessageBytes?: number;
  /** Reconnect attempts of a control connection after a transient failure (--retries). */
  retries?: number;
  /** Base delay of the reconnect back-off (ms); default 500. */
  backoffMs?: number;
  /**
   * Told when a server throttles (or says "try later") on a control connection. `warned`: the
   * driver warns of this wait itself (with its retry count), so it is only counted, not warned of
   * again.
   */
  onThrottle?: (t: { ms: number; message: string; warned?: boolean }) => void;
  log: Logger;
}

/** What to do about a certificate refused with `code`: a name that does not match is not fixed by a CA. */
export function tlsCertHint(code: string): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'the certificate is for another host name: use the name it was issued for in the URL (or skip verification with --insecure, unsafe)';
  return 'trust its CA with --tls-ca FILE, or skip verification with --insecure (unsafe)';
}

/** Network error codes of Node's socket and TLS layers, as found on `err.code`. */
export const TLS_CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);
