// throwaway: a bench Dovecot kept running for profiling (not committed)
import { writeFileSync } from 'node:fs';
import { CORPUS_GROUPS, seedCorpus, type CorpusGroup } from '../test/harness/corpus.js';
import { startDovecot } from '../test/harness/dovecot.js';
const d = await startDovecot({ tmpdir: '/tmp/b7', mailFsync: 'optimized' });
const inbox = Object.fromEntries(CORPUS_GROUPS.map((g) => [g, 'INBOX'])) as Record<CorpusGroup, string>;
for (const [u, scale, layout] of [['src1', 1, undefined], ['pop1', 1, inbox], ['src10', 10, undefined]] as const) {
  await d.addUser(u); await seedCorpus(d, u, { scale, layout });
}
for (let i = 0; i < 40; i++) await d.addUser(`dst${i}`);
writeFileSync('/tmp/b7/serve.json', JSON.stringify({ dir: d.dir, conf: d.conf, ports: d.ports }));
console.log(JSON.stringify(d.ports), d.dir);
setInterval(() => {}, 1 << 30);
