// Which certificates are trusted, through the real CLI against the harness Dovecot (IMAPS and
// POP3S, a self-signed certificate). --tls-ca adds a CA to what Node trusts; it does not replace
// it: a copy from a private-CA server to a server Node already trusts needs no --insecure.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { h } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mf-tls-'));
// A CA that signed nothing here: one of Node's own roots, written to a file.
const otherCa = join(work, 'other-ca.pem');
writeFileSync(otherCa, rootCertificates[0]!);
const env = { MAILFERRY_SOURCE_PASSWORD: h.user.password, XDG_STATE_HOME: join(work, 'state') };
const imaps = `imaps://${h.user.name}@${h.host}:${h.ports.imaps}/Fixtures`;
const pop3s = `pop3s://${h.user.name}@${h.host}:${h.ports.pop3s}`;

describe('TLS trust', () => {
  it('a server Node trusts (here through NODE_EXTRA_CA_CERTS) stays trusted when --tls-ca names another CA', async () => {
    for (const [i, src] of [imaps, pop3s].entries()) {
      const args = ['copy', src, `maildir:${join(work, `md${i}`)}`, '--tls-ca', otherCa, '--checkpoint', join(work, `cp${i}`), '--json'];
      const trusted = await runCli(args, { env: { ...env, NODE_EXTRA_CA_CERTS: h.certPem } });
      expect(envelope(trusted).status, trusted.stderr).toBe(0);
      // Without Node's trust, the other CA alone does not make it trusted: exit 4, verified for real.
      const untrusted = await runCli([...args, '--restart'], { env });
      expect(envelope(untrusted).status).toBe(4);
      expect(envelope(untrusted).error?.code).toBe('TLS_FAILED');
    }
  });

  it('--tls-ca naming the server\'s own CA is trusted as before', async () => {
    const r = await runCli(['folders', imaps.replace('/Fixtures', ''), '--tls-ca', otherCa, '--tls-ca', h.certPem, '--json'], { env });
    expect(envelope(r).status, r.stderr).toBe(0);
  });
});
