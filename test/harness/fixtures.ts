// Adversarial fixture messages (fixtures/messages/*.eml, see its README.md) as test mail.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './corpus.js';
import { dovecotStoredBytes, internalDateFor, lettersToFlags, maildirLettersFor, messageIdOf, type ManifestEntry } from './manifest.js';
import { importMessages, type ImportTarget } from './stage.js';

export function fixturesDir(): string {
  return path.join(PROJECT_ROOT, 'fixtures', 'messages');
}

export function loadFixtures(): Array<{ file: string; path: string; bytes: Buffer }> {
  return readdirSync(fixturesDir())
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((file) => {
      const p = path.join(fixturesDir(), file);
      return { file, path: p, bytes: readFileSync(p) };
    });
}

/**
 * Load every fixture into `folder` (created if needed). Fixture n (1-based, sorted by file name)
 * gets flags maildirLettersFor(n) and INTERNALDATE 2003-03-03T00:00:00Z + n*97 s.
 */
export async function seedFixtures(target: ImportTarget, user: string, folder = 'Fixtures'): Promise<ManifestEntry[]> {
  const fixtures = loadFixtures();
  const manifest = fixtures.map((f, i): ManifestEntry => {
    const letters = maildirLettersFor(i + 1);
    const bytes = dovecotStoredBytes(f.bytes);
    return {
      folder, bytes, flags: lettersToFlags(letters),
      internalDate: internalDateFor(i + 1, Date.UTC(2003, 2, 3)),
      messageId: messageIdOf(bytes), origin: `fixtures/${f.file}`,
      ...(bytes === f.bytes ? { source: { path: f.path, offset: 0 } } : {}),
    };
  });
  await importMessages(
    target, user,
    fixtures.map((f, i) => ({ folder, bytes: f.bytes, letters: maildirLettersFor(i + 1), internalDate: manifest[i]!.internalDate })),
  );
  return manifest;
}
