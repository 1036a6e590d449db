/**
 * Where passwords come from: the environment (MAILFERRY_SOURCE_PASSWORD / MAILFERRY_DEST_PASSWORD)
 * or a file. Never from argv. Every secret found is registered for redaction in logs.
 */
import { readFileSync, statSync } from 'node:fs';
import { MailferryError } from '../errors.js';
import { passwordEnvVar, type Role } from '../engine/endpoint.js';
import { registerSecret, type Logger } from '../log.js';

export interface SecretSpec {
  file?: string;
}

export function secretResolver(role: Role, spec: SecretSpec, log: Logger): () => Promise<string> {
  let cached: string | undefined;
  return async () => {
    if (cached !== undefined) return cached;
    const envName = passwordEnvVar(role);
    let value: string | undefined;
    if (spec.file) {
      let text: string;
      try {
        text = readFileSync(spec.file, 'utf8');
        const mode = statSync(spec.file).mode;
        if (mode & 0o077) log.warn({ msg: `${spec.file} can be read by other users; chmod 600 it` });
      } catch (err) {
        throw new MailferryError('MISSING_SECRET', `cannot read --${role}-password-file ${spec.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, {
          hint: 'check the path and its permissions',
        });
      }
      value = text.replace(/\r?\n$/, '');
    } else if (process.env[envName] !== undefined) {
      value = process.env[envName];
    }
    if (!value) {
      throw new MailferryError('MISSING_SECRET', `no password for the ${role}`, {
        hint: `set ${envName} or use --${role}-password-file FILE`,
      });
    }
    registerSecret(value);
    cached = value;
    return value;
  };
}
