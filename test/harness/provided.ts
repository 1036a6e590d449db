// What globalSetup hands to test workers via project.provide('dovecot', …) / inject('dovecot').
import type { DovecotPorts } from './conf.js';

export interface DovecotInfo {
  dir: string;
  conf: string;
  passwdDir: string;
  certPem: string;
  host: '127.0.0.1';
  ports: DovecotPorts;
  mailUid: number;
  mailGid: number;
  /** The seeded user (corpus in DEFAULT_LAYOUT + fixtures in "Fixtures"). */
  user: { name: string; password: string };
  /** JSON SerializedEntry[] (see manifest.ts): sha256 + path/offset/size of each message's bytes. */
  manifestPath: string;
  /** Seconds the global setup took (start + seed). */
  setupSeconds: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    dovecot: DovecotInfo;
  }
}
