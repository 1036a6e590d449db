// A login's ID command (RFC 2971), through the real CLI against a fake server that says when it
// offers ID: sent once per connection, before the login when the server offers it then, after the
// login when it offers it only then; never both (that cost every login a round trip).
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { FakeImapServer } from '../harness/fake-imap.js';
import { fakeMessage } from './helpers.js';

describe('ID at login', () => {
  let srv: FakeImapServer | undefined;
  afterEach(async () => {
    await srv?.stop();
    srv = undefined;
  });

  /** A server offering ID before the login (`before`) or only in the login's answer; the commands it was sent, in order. */
  async function server(before: boolean): Promise<string[]> {
    const seen: string[] = [];
    srv = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] }],
      capabilities: before ? ['ID'] : [],
      hook: (s, tag, name) => {
        seen.push(name);
        if (name === 'ID') {
          // As Dovecot answers before a login: its name and nothing more.
          s.send(`* ID ("name" "fake")\r\n${tag} OK ID completed\r\n`);
          return true;
        }
        if (name === 'LOGIN' && !before) {
          s.send(`${tag} OK [CAPABILITY IMAP4rev1 UIDPLUS ID] logged in\r\n`);
          return true;
        }
        return false;
      },
    });
    return seen;
  }

  const folders = async () => {
    const r = await runCli(['folders', `imap://u@127.0.0.1:${srv!.port}`, '--source-tls', 'none', '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } });
    expect(envelope(r).status, r.stderr).toBe(0);
  };

  it('offered before the login: one ID, before it, and none after', async () => {
    const seen = await server(true);
    await folders();
    expect(seen.filter((c) => c === 'ID')).toHaveLength(1);
    expect(seen.indexOf('ID')).toBeLessThan(seen.indexOf('LOGIN'));
  });

  it('SASL-IR: the credentials on the AUTHENTICATE line; a "+" after them is cancelled at once ("*"), a failed login, not a wait', async () => {
    const lines: string[] = [];
    let authTag = '';
    srv = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [] }],
      capabilities: ['AUTH=PLAIN', 'SASL-IR'],
      hook: (s, tag, name, args) => {
        // A line of one token (the client's "*") is that token.
        lines.push(name ? `${tag} ${name} ${args}` : tag);
        if (name === 'AUTHENTICATE') {
          authTag = tag;
          s.send('+ \r\n');
          return true;
        }
        if (tag === '*' && authTag) {
          s.send(`${authTag} BAD [AUTHENTICATIONFAILED] cancelled\r\n`);
          return true;
        }
        return false;
      },
    });
    const started = Date.now();
    const r = await runCli(['folders', `imap://u@127.0.0.1:${srv.port}`, '--source-tls', 'none', '--json', '--timeout', '30'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(envelope(r).status, r.stderr).toBe(4);
    const auth = lines.find((l) => / AUTHENTICATE /.test(l))!;
    expect(Buffer.from(auth.split(' ').pop()!, 'base64').toString()).toBe('\0u\0pass');
    expect(lines).toEqual([auth, '*']);
  });

  it('offered only once logged in: one ID, after the login', async () => {
    const seen = await server(false);
    await folders();
    expect(seen.filter((c) => c === 'ID')).toHaveLength(1);
    expect(seen.indexOf('ID')).toBeGreaterThan(seen.indexOf('LOGIN'));
  });
});
