// XOAUTH2 through the real CLI against the real Dovecot, which validates the bearer
// tokens itself (oauth2 passdb, local JWT validation: test/harness/oauth.ts). A token is a secret
// like a password: it appears in no output and no log, and a refused one is exit 4 on one line.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { seedFixtures } from '../harness/fixtures.js';
import { readMaildirTree } from '../harness/maildir-read.js';
import { oauthToken } from '../harness/oauth.js';
import { expectOneLineError, h, tls } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mf-xoauth2-'));
const base = { MAILFERRY_SOURCE_PASSWORD: undefined, MAILFERRY_DEST_PASSWORD: undefined, XDG_STATE_HOME: join(work, 'state') };

describe('OAuth 2.0 bearer tokens (--source-auth / --dest-auth xoauth2) against Dovecot', () => {
  let user: string;
  let seeded: number;
  beforeAll(async () => {
    // A password nobody knows: only a token can log in.
    user = (await h.freshUser('oauth', `no-password-${Math.random()}`)).name;
    seeded = (await seedFixtures(h, user, 'INBOX')).length;
  });
  const url = (u: string) => `imap://${u}@${h.host}:${h.ports.imap}`;

  /** A copy into a fresh Maildir, logged in with a token: every message there, the token in no output and no log. */
  const copyWithToken = async (src: string, name: string) => {
    const token = oauthToken(h.dir, user);
    const log = join(work, `${name}.log`);
    const dest = join(work, name);
    const r = await runCli(['copy', src, `maildir:${dest}`, ...tls, '--source-auth', 'xoauth2', '--json', '--verbose', '--log-file', log], {
      env: { ...base, MAILFERRY_SOURCE_PASSWORD: token },
    });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    // The fixtures hold one message twice (same Message-ID): skipped as a duplicate.
    expect(out.result).toMatchObject({ copied: seeded - 1, skipped: 1, failed: 0 });
    expect(readMaildirTree(dest).get('INBOX')).toHaveLength(seeded - 1);
    for (const text of [r.stdout, r.stderr, readFileSync(log, 'utf8')]) expect(text).not.toContain(token.split('.')[2]);
  };

  it('IMAP → Maildir with a token: every message copied; the token is in no output and no log', async () => {
    await copyWithToken(url(user), 'md1');
  });

  it('a token command is asked again for every connection, and each token is accepted', async () => {
    const counter = join(work, 'asked');
    const dst = (await h.freshUser('oauth-dst', `no-password-${Math.random()}`)).name;
    // The command prints a token for its account, and says each time it was asked.
    const tokenFile = (u: string) => {
      const f = join(work, `token-${u}`);
      writeFileSync(f, oauthToken(h.dir, u), { mode: 0o600 });
      return f;
    };
    const mint = (u: string) => `echo x >> ${counter}; cat ${tokenFile(u)}`;
    const r = await runCli(
      ['copy', url(user), url(dst), ...tls, '--source-auth', 'xoauth2', '--dest-auth', 'xoauth2', '--source-password-command', mint(user), '--dest-password-command', mint(dst), '-j', '3', '--json'],
      { env: base },
    );
    expect(envelope(r).status, r.stderr).toBe(0);
    expect(envelope(r).result).toMatchObject({ copied: seeded - 1, skipped: 1, failed: 0 });
    // Folder connections of both sides and at least one worker connection on each.
    expect(readFileSync(counter, 'utf8').split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(4);
    const { stdout } = await h.doveadm(['mailbox', 'status', '-u', dst, 'messages', 'INBOX']);
    expect(stdout.toString().trim()).toBe(`INBOX messages=${seeded - 1}`);
  });

  it('an expired token: exit 4 on one line, the token not echoed', async () => {
    const token = oauthToken(h.dir, user, { expiresIn: -600 });
    const r = await runCli(['folders', url(user), ...tls, '--source-auth', 'xoauth2'], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: token } });
    expectOneLineError(r, 4, new RegExp(`login as ${user} at .* failed`));
    expect(r.stderr).not.toContain(token.split('.')[2]);
  });

  it('a forged token (signed with another key): exit 4, nothing copied', async () => {
    const dest = join(work, 'md-forged');
    const r = await runCli(['copy', url(user), `maildir:${dest}`, ...tls, '--source-auth', 'xoauth2'], {
      env: { ...base, MAILFERRY_SOURCE_PASSWORD: oauthToken(h.dir, user, { forged: true }) },
    });
    expectOneLineError(r, 4, /failed/);
    const stored = existsSync(dest) ? [...readMaildirTree(dest).values()].flat().length : 0;
    expect(stored).toBe(0);
  });

  it('POP3 → Maildir with a token (AUTH XOAUTH2); the token is in no output and no log', async () => {
    await copyWithToken(`pop3://${user}@${h.host}:${h.ports.pop3}`, 'md-pop');
  });

  it('POP3 with an expired token: exit 4 on one line, with the server\'s reason, the token not echoed', async () => {
    const token = oauthToken(h.dir, user, { expiresIn: -600 });
    const r = await runCli(['copy', `pop3://${user}@${h.host}:${h.ports.pop3}`, `maildir:${join(work, 'md-pop-x')}`, ...tls, '--source-auth', 'xoauth2'], {
      env: { ...base, MAILFERRY_SOURCE_PASSWORD: token },
    });
    expectOneLineError(r, 4, new RegExp(`POP3 login as "${user}" .* failed at AUTH XOAUTH2: .*Authentication failed.*\\(status \\w+\\)`));
    expect(r.stderr).not.toContain(token.split('.')[2]);
  });

  it('a token for another account does not log in as this one', async () => {
    const other = (await h.freshUser('oauth-other')).name;
    const r = await runCli(['folders', url(user), ...tls, '--source-auth', 'xoauth2'], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: oauthToken(h.dir, other) } });
    expectOneLineError(r, 4, /failed/);
  });
});
