// vitest globalSetup: one Dovecot for the whole run, user "corpus" seeded with the full corpus
// (DEFAULT_LAYOUT) plus the adversarial fixtures in "Fixtures". MF_DOVECOT=0 skips it all.
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { seedCorpus } from './corpus.js';
import { startDovecot } from './dovecot.js';
import { seedFixtures } from './fixtures.js';
import { writeManifest } from './manifest.js';
import type { DovecotInfo } from './provided.js';

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.MF_DOVECOT === '0') return undefined; // e.g. unit-only runs; harness() then throws
  const t0 = performance.now();
  const dovecot = await startDovecot({ tmpdir: fastTmpdir() });
  try {
    const user = await dovecot.addUser('corpus', 'pass');
    const manifest = [
      ...(await seedCorpus(dovecot, user.name)),
      ...(await seedFixtures(dovecot, user.name, 'Fixtures')),
    ];
    const manifestPath = path.join(dovecot.dir, 'manifest.json');
    writeManifest(manifestPath, manifest, path.join(dovecot.dir, 'blobs'));
    const info: DovecotInfo = {
      dir: dovecot.dir, conf: dovecot.conf, passwdDir: dovecot.passwdDir, certPem: dovecot.certPem,
      host: dovecot.host, ports: dovecot.ports, mailUid: dovecot.mailUid, mailGid: dovecot.mailGid,
      user: { name: user.name, password: user.password }, manifestPath,
      setupSeconds: Math.round(performance.now() - t0) / 1000,
    };
    project.provide('dovecot', info);
  } catch (e) {
    await dovecot.stop();
    throw e;
  }
  return () => dovecot.stop();
}

/**
 * On this VM, Dovecot saving 6,046 messages takes 3-5 s on the ext4 /tmp but ~0.4 s on tmpfs, so
 * the shared instance lives in /dev/shm when it can. MF_DOVECOT_TMPDIR overrides.
 */
function fastTmpdir(): string {
  if (process.env.MF_DOVECOT_TMPDIR) return process.env.MF_DOVECOT_TMPDIR;
  try {
    accessSync('/dev/shm', constants.W_OK | constants.X_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}
