// OAuth 2.0 bearer tokens a test Dovecot accepts: the server validates them itself (its oauth2
// passdb in local mode: a JWT signed with HS256 under a key in a dict on disk), so XOAUTH2 logins
// are exercised end to end against the real server, without an OAuth provider.
import { createHmac, randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const keyFile = (dir: string) => path.join(dir, 'oauth2-keys', 'default', 'HS256', 'default');

/** Writes the signing key and the passdb settings under `dir`; returns the settings file. */
export async function prepareOauth2(dir: string): Promise<string> {
  const file = keyFile(dir);
  await mkdir(path.dirname(file), { recursive: true });
  for (let d = path.dirname(file); d !== dir; d = path.dirname(d)) await chmod(d, 0o755);
  // The dict holds the HMAC key base64-encoded; Dovecot's auth process must be able to read it.
  await writeFile(file, randomBytes(32).toString('base64'), { mode: 0o644 });
  const conf = path.join(dir, 'oauth2.conf.ext');
  await writeFile(
    conf,
    `introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix=${path.join(dir, 'oauth2-keys')}/\nusername_attribute = sub\n`,
    { mode: 0o644 },
  );
  return conf;
}

export interface TokenOptions {
  /** Seconds until it expires (negative: expired already). Default one hour. */
  expiresIn?: number;
  /** Signed with another key: a forged token. */
  forged?: boolean;
}

/** A bearer token for `user` that the Dovecot in `dir` validates. */
export function oauthToken(dir: string, user: string, o: TokenOptions = {}): string {
  const key = o.forged ? randomBytes(32) : Buffer.from(readFileSync(keyFile(dir), 'utf8').trim(), 'base64');
  const now = Math.floor(Date.now() / 1000);
  const part = (x: object) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: user, iat: now - 60, exp: now + (o.expiresIn ?? 3600) })}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}
