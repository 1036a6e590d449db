// vitest globalSetup: one Dovecot for the whole run, user "corpus" seeded with the full corpus
// (DEFAULT_LAYOUT) plus the adversarial fixtures in "Fixtures". MF_DOVECOT=0 skips it all.
import { accessSync, chmodSync, constants, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { seedCorpus } from './corpus.js';
import { startDovecot } from './dovecot.js';
import { seedFixtures } from './fixtures.js';
import { writeManifest } from './manifest.js';
import type { DovecotInfo } from './provided.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Every temporary directory of the run (the tests' sandboxes, the CLI's files) goes under one
  // root that is removed at the end: the test workers and the CLI processes they start inherit
  // TMPDIR, and os.tmpdir() follows it.
  const root = mkdtempSync(path.join(os.tmpdir(), 'mf-test-'));
  // Traversable by Dovecot's unprivileged processes (auth, mail users), as /tmp itself is: an
  // instance a test starts in it reads its passwd file and homes through it.
  chmodSync(root, 0o711);
  const fast = fastTmpdir();
  process.env.TMPDIR = root;
  const removeRoot = () => rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  if (process.env.MF_DOVECOT === '0') return removeRoot; // e.g. unit-only runs; harness() then throws
  const t0 = performance.now();
  const dovecot = await startDovecot({ tmpdir: fast, oauth2: true });
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
    await removeRoot();
    throw e;
  }
  return async () => {
    await dovecot.stop();
    await removeRoot();
  };
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
