/**
 * Where passwords (or OAuth2 bearer tokens) come from, first match wins: --ROLE-password-command,
 * --ROLE-password-file, the environment (MAILFERRY_SOURCE_PASSWORD / MAILFERRY_DEST_PASSWORD), a
 * no-echo prompt when stdin is a terminal. Never from argv. Every secret found is registered for
 * redaction in logs. A password is looked up once; an xoauth2 token from a command or a file is
 * looked up again on every connect, so a long run picks up a refreshed token.
 */
import { isUtf8 } from 'node:buffer';
import { readGivenFile } from '../given-file.js';
import { MailferryError } from '../errors.js';
import { passwordEnvVar, type Role } from '../engine/endpoint.js';
import { registerSecret, type Logger } from '../log.js';
import { notUtf8, runPasswordCommand } from './password-command.js';
import { canPrompt, promptHidden } from './prompt.js';

export interface SecretSpec {
  file?: string;
  command?: string;
  auth?: 'password' | 'xoauth2';
  /** Said after the usual hint when none is found (SOURCE and DEST swapped, say). */
  missingHint?: string;
}

async function readSecretFile(role: Role, file: string, log: Logger): Promise<string> {
  let bytes: Buffer;
  try {
    let stats;
    ({ bytes, stats } = await readGivenFile(file, 64 * 1024));
    // The mode of the file read, not of whatever the path names by now.
    if (stats.isFile() && stats.mode & 0o077) log.warn({ msg: `${file} can be read by other users; chmod 600 it` });
  } catch (err) {
    throw new MailferryError('MISSING_SECRET', `cannot read --${role}-password-file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, {
      hint: 'check the path and its permissions',
    });
  }
  // The first line (a note or a second line after it is not part of the password).
  const value = bytes.toString('utf8').split(/\r?\n/, 1)[0]!;
  if (!value) throw new MailferryError('MISSING_SECRET', `--${role}-password-file ${file} is empty`, { hint: 'put the password in it, on one line' });
  // A byte that is not UTF-8 reads as U+FFFD (as a job file is checked).
  if (value.includes('\uFFFD') && !isUtf8(bytes)) throw notUtf8(`--${role}-password-file ${file} is not valid UTF-8`);
  return value;
}

export function secretResolver(role: Role, spec: SecretSpec, log: Logger): () => Promise<string> {
  const envName = passwordEnvVar(role);
  const what = spec.auth === 'xoauth2' ? 'token' : 'password';
  const lookup = async (): Promise<string> => {
    let value: string | undefined;
    if (spec.command) value = await runPasswordCommand(role, spec.command);
    else if (spec.file) value = await readSecretFile(role, spec.file, log);
    else if (process.env[envName] !== undefined) {
      value = process.env[envName];
      if (!value) throw new MailferryError('MISSING_SECRET', `${envName} is set but empty`, { hint: `set it to the ${role} ${what}, or unset it` });
    }
    else if (canPrompt()) value = await promptHidden(`${role === 'source' ? 'Source' : 'Destination'} ${what}: `);
    if (!value) {
      throw new MailferryError('MISSING_SECRET', `no ${what} for the ${role}`, {
        hint: `set ${envName}, or use --${role}-password-file FILE or --${role}-password-command CMD${spec.missingHint ? `; ${spec.missingHint}` : ''}`,
      });
    }
    registerSecret(value);
    return value;
  };
  const fresh = spec.auth === 'xoauth2' && (spec.command !== undefined || spec.file !== undefined);
  if (fresh) return lookup;
  let cached: Promise<string> | undefined;
  return () => {
    cached ??= lookup().catch((err) => {
      cached = undefined;
      throw err;
    });
    return cached;
  };
}
