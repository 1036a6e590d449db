/** Flags shared by the commands that move or compare mail. */
import { Flags } from '@oclif/core';

/**
 * Flags that name a file: a job file takes them relative to itself, and a leading `~/` is the home
 * directory in a job file and on the command line alike (`--checkpoint=~/x`: no shell expands it
 * after `=`; it made a directory named `~` in the current one).
 */
export const PATH_FLAGS: ReadonlySet<string> = new Set(['config', 'source-password-file', 'dest-password-file', 'tls-ca', 'checkpoint', 'report', 'log-file']);

const tlsOptions = ['implicit', 'starttls', 'none'] as const;

export const connectionFlags = {
  'source-tls': Flags.option({ options: tlsOptions, description: 'TLS for the source (default from the scheme: imaps/pop3s → implicit, imap/pop3 → starttls)' })(),
  'dest-tls': Flags.option({ options: tlsOptions, description: 'TLS for the destination (default from the scheme)' })(),
  'tls-ca': Flags.string({ multiple: true, multipleNonGreedy: true, description: 'trust this CA certificate (PEM file) too', helpValue: 'FILE' }),
  insecure: Flags.boolean({ description: 'do not verify TLS certificates (unsafe)', default: false, allowNo: true }),
  'source-password-file': Flags.string({ description: 'read the source password from FILE (else $MAILFERRY_SOURCE_PASSWORD)', helpValue: 'FILE' }),
  'dest-password-file': Flags.string({ description: 'read the destination password from FILE (else $MAILFERRY_DEST_PASSWORD)', helpValue: 'FILE' }),
  'source-password-command': Flags.string({ description: "run CMD through the shell and use its output as the source password or token (e.g. 'pass show mail/alice')", helpValue: 'CMD' }),
  'dest-password-command': Flags.string({ description: 'run CMD through the shell and use its output as the destination password or token', helpValue: 'CMD' }),
  'source-auth': Flags.option({ options: ['password', 'xoauth2'] as const, description: 'how to log in to the source: password, or an OAuth2 bearer token (xoauth2; from the password command, re-run on every connect)' })(),
  'dest-auth': Flags.option({ options: ['password', 'xoauth2'] as const, description: 'how to log in to the destination (password or xoauth2)' })(),
  compress: Flags.boolean({ description: 'ask IMAP servers for COMPRESS=DEFLATE (helps slow links, costs CPU)', default: false, allowNo: true }),
  timeout: Flags.integer({ description: 'seconds to wait for a server before giving up on a connection (1–86400)', default: 60, min: 1, max: 86400, helpValue: 'SECONDS' }),
};

export const selectionFlags = {
  folder: Flags.string({ multiple: true, multipleNonGreedy: true, description: "copy only folders matching GLOB ('/' between levels, e.g. 'Archive/*')", helpValue: 'GLOB' }),
  exclude: Flags.string({ multiple: true, multipleNonGreedy: true, description: 'skip folders matching GLOB', helpValue: 'GLOB' }),
};

export const outputFlags = {
  json: Flags.boolean({ description: 'print exactly one JSON document on stdout', default: false }),
  quiet: Flags.boolean({ char: 'q', description: 'print only errors (for cron)', default: false, allowNo: true }),
  verbose: Flags.boolean({ char: 'v', description: 'print more detail on stderr', default: false, allowNo: true }),
  'log-file': Flags.string({ description: 'write a full JSON-lines log to FILE', helpValue: 'FILE' }),
};

export const filterFlags = {
  since: Flags.string({ description: 'only messages received on or after DATE (INTERNALDATE; YYYY-MM-DD is midnight UTC)', helpValue: 'DATE' }),
  before: Flags.string({ description: 'only messages received before DATE', helpValue: 'DATE' }),
  'max-size': Flags.string({ description: 'leave out messages larger than SIZE (e.g. 10M, 512K)', helpValue: 'SIZE' }),
  map: Flags.string({ multiple: true, multipleNonGreedy: true, description: "put source folder OLD (and its subfolders) under NEW in the destination ('/' between levels)", helpValue: 'OLD=NEW' }),
};

export const configFlag = {
  config: Flags.string({ char: 'c', description: 'read settings from a YAML or JSON job file (keys are the long flag names); flags given override it', helpValue: 'FILE' }),
};

/** copy and verify: how often a transient failure (a lost link, throttling) is retried. */
export const retriesFlag = {
  retries: Flags.integer({ helpValue: 'N', description: 'retries of a batch (and reconnects of a control connection) after a transient network failure or throttling', default: 5, min: 0 }),
};
