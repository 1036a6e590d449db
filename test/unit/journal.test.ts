import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, truncateSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { spawn } from 'node:child_process';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { doneAsListed, Journal } from '../../src/checkpoint/journal.js';
import { acquireLock } from '../../src/checkpoint/lock.js';
import { jobKey } from '../../src/checkpoint/path.js';

const header = { job: 'job-a', source: 'imap://a@h:143', dest: 'maildir:/x' };
const dir = () => mkdtempSync(join(tmpdir(), 'mf-journal-'));

describe('checkpoint journal', () => {
  it('replays intents, copies, skips and folder ends', async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    j.append({ t: 'box', s: 'INBOX', uv: '7' });
    j.append({ t: 'i', s: 'INBOX', k: '1' });
    j.append({ t: 'i', s: 'INBOX', k: '2' });
    j.append({ t: 'c', s: 'INBOX', k: '1', id: 'mid:<a@b>', d: 'INBOX', dk: 'f1' });
    j.append({ t: 'k', s: 'INBOX', k: '3', why: 'present' });
    j.append({ t: 'end', s: 'INBOX', uv: '7', next: 4 });
    await j.sync();
    j.close();
    expect(statSync(p).mode & 0o777).toBe(0o600);
    const st = Journal.open(p, { header }).state.folder('INBOX');
    expect([...st.done].sort()).toEqual(['1', '3']);
    expect([...st.pending]).toEqual(['2']);
    expect(st.end).toEqual({ uv: '7', next: 4 });
  });

  it('forgets a folder\'s keys when its UIDVALIDITY changes', async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    j.append({ t: 'box', s: 'X', uv: '1' });
    j.append({ t: 'k', s: 'X', k: '5', why: 'present' });
    j.append({ t: 'box', s: 'X', uv: '2' });
    expect(j.state.folder('X').done.size).toBe(0);
    j.close();
  });

  it('ignores a torn last line and truncates it away before appending', async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    j.append({ t: 'k', s: 'INBOX', k: '1', why: 'present' });
    await j.sync();
    j.close();
    appendFileSync(p, '{"t":"k","s":"INBOX","k":"2","wh');
    const j2 = Journal.open(p, { header });
    expect([...j2.state.folder('INBOX').done]).toEqual(['1']);
    j2.append({ t: 'k', s: 'INBOX', k: '9', why: 'present' });
    await j2.sync();
    j2.close();
    const lines = readFileSync(p, 'utf8').trim().split('\n');
    for (const l of lines) JSON.parse(l);
    expect([...Journal.open(p, { header }).state.folder('INBOX').done].sort()).toEqual(['1', '9']);
  });

  it('a corrupt line in the middle makes it unreadable (exit 7), unless asked to restart', () => {
    const p = join(dir(), 'cp');
    Journal.open(p, { header }).close();
    appendFileSync(p, 'garbage\n{"t":"k","s":"INBOX","k":"1","why":"x"}\n');
    expect(() => Journal.open(p, { header })).toThrow(expect.objectContaining({ code: 'CHECKPOINT_UNREADABLE', exitCode: 7 }));
    expect(Journal.open(p, { header, restart: true }).state.folders.size).toBe(0);
  });

  it('replays a journal larger than its read chunk: lines across chunk ends, a torn last line, a corrupt line far in', async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    // ~3 MB of records of varied lengths, so line ends fall everywhere relative to 1 MB chunks.
    for (let i = 0; i < 40_000; i++) j.append({ t: 'k', s: 'INBOX', k: String(i), why: 'x'.repeat(i % 97) });
    await j.sync();
    j.close();
    expect(statSync(p).size).toBeGreaterThan(3 << 20);
    appendFileSync(p, '{"t":"k","s":"INBOX","k":"torn"');
    const r = Journal.replay(p);
    expect(r.state.folder('INBOX').done.size).toBe(40_000);
    expect(r.state.folder('INBOX').done.has('39999')).toBe(true);
    expect(r.goodBytes).toBe(statSync(p).size - '{"t":"k","s":"INBOX","k":"torn"'.length);
    // A torn last line that happens to end in a newline is still a torn last line, cut where it begins.
    appendFileSync(p, '\n');
    expect(Journal.replay(p).state.folder('INBOX').done.size).toBe(40_000);
    expect(Journal.replay(p).goodBytes).toBe(statSync(p).size - '{"t":"k","s":"INBOX","k":"torn"\n'.length);
    // The same bytes in the middle are corruption, named by line.
    appendFileSync(p, '{"t":"k","s":"INBOX","k":"after","why":"x"}\n');
    expect(() => Journal.replay(p)).toThrow(/line 40002 is not valid JSON/);
  });

  it('counts a torn last line in bytes where the lines hold characters of several bytes and it holds bytes that are no UTF-8', async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    // Folder names of 2-, 3- and 4-byte characters, over more than one read chunk.
    // (Keys that are no numbers: UIDs would be compacted to runs when it is opened again.)
    for (let i = 0; i < 12_000; i++) j.append({ t: 'k', s: ['Café ☕', 'Entwürfe', '𝄞 Noten'][i % 3]!, k: `m${i}`, why: 'é'.repeat(i % 61) });
    await j.sync();
    j.close();
    expect(statSync(p).size).toBeGreaterThan(1 << 20);
    const good = statSync(p).size;
    // Torn inside a character, then bytes that decode to nothing (a torn write of another run's bytes).
    const tail = Buffer.concat([Buffer.from('{"t":"k","s":"Caf'), Buffer.from([0xc3]), Buffer.from([0xff, 0xfe, 0x0a])]);
    appendFileSync(p, tail);
    const r = Journal.replay(p);
    expect(r.goodBytes).toBe(good);
    expect(r.state.folder('Café ☕').done.size + r.state.folder('Entwürfe').done.size + r.state.folder('𝄞 Noten').done.size).toBe(12_000);
    expect(r.state.folder('𝄞 Noten').done.has('m11999')).toBe(true);
    // Opened again: the torn line is cut away, and what follows is appended after the good part.
    const again = Journal.open(p, { header });
    again.append({ t: 'k', s: 'Entwürfe', k: 'next', why: 'x' });
    await again.sync();
    again.close();
    expect(statSync(p).size).toBeGreaterThan(good);
    expect(Journal.replay(p).state.folder('Entwürfe').done.has('next')).toBe(true);
  });

  it('valid JSON that is no record (null, a record without its fields) is corruption (exit 7), not an internal error; a record of a later version is passed over', async () => {
    for (const bad of ['null', '{"t":"c"}', '{"t":"i"}', '[1]', '"x"']) {
      const p = join(dir(), 'cp');
      const j = Journal.open(p, { header });
      j.append({ t: 'k', s: 'INBOX', k: '1', why: 'x' });
      await j.sync();
      j.close();
      appendFileSync(p, `${bad}\n{"t":"k","s":"INBOX","k":"2","why":"x"}\n`);
      expect(() => Journal.replay(p), bad).toThrow(expect.objectContaining({ code: 'CHECKPOINT_UNREADABLE', exitCode: 7, message: expect.stringMatching(/line 3 is not a checkpoint record/) }));
    }
    const p = join(dir(), 'cp');
    Journal.open(p, { header }).close();
    appendFileSync(p, '{"t":"future","x":1}\n{"t":"k","s":"INBOX","k":"2","why":"x"}\n');
    expect(Journal.replay(p).state.folder('INBOX').done.has('2')).toBe(true);
  });

  it('a truncated header (empty file) is unreadable, not silently reset', () => {
    const p = join(dir(), 'cp');
    Journal.open(p, { header }).close();
    truncateSync(p, 10);
    expect(() => Journal.open(p, { header })).toThrow(/unreadable/);
  });

  it('refuses a checkpoint of another job (exit 3) unless restarted', () => {
    const p = join(dir(), 'cp');
    Journal.open(p, { header }).close();
    expect(() => Journal.open(p, { header: { ...header, job: 'job-b' } })).toThrow(expect.objectContaining({ code: 'CHECKPOINT_MISMATCH', exitCode: 3 }));
    expect(() => Journal.open(p, { header: { ...header, job: 'job-b' }, restart: true })).not.toThrow();
  });

  it('takes a checkpoint written with the host in another case as its own, under the same dedupe mode only', () => {
    const p = join(dir(), 'cp');
    const old = { source: 'imap://Alice@MAIL.Example.org:143/Work', dest: 'maildir:/srv/B' };
    const theirs = { ...old, job: jobKey(old.source, `${old.dest}\nmessage-id`) };
    Journal.open(p, { header: theirs }).close();
    const source = 'imap://Alice@mail.example.org:143/Work';
    const ours = (dedupe: string) => ({ job: jobKey(source, `${old.dest}\n${dedupe}`), source, dest: old.dest });
    expect(() => Journal.open(p, { header: ours('message-id'), dedupe: 'message-id' }).close()).not.toThrow();
    expect(() => Journal.open(p, { header: ours('content'), dedupe: 'content' })).toThrow(/another --dedupe mode/);
    // The user keeps its case: an account name may be case-sensitive on its server.
    const lower = 'imap://alice@mail.example.org:143/Work';
    expect(() => Journal.open(p, { header: { job: jobKey(lower, `${old.dest}\nmessage-id`), source: lower, dest: old.dest }, dedupe: 'message-id' })).toThrow(/belongs to another job/);
  });

  it('keeps the size a reused key (POP3 UIDL) was done with, through replay and compaction: listed with another, it is not done', async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    j.append({ t: 'c', s: 'INBOX', k: '4', id: 'mid:<m4@x>', d: 'INBOX', dk: 'f4', z: 120 });
    j.append({ t: 'k', s: 'INBOX', k: '5', why: 'present', z: 90 });
    j.append({ t: 'k', s: 'INBOX', k: '6', why: 'present' });
    await j.sync();
    j.compact();
    j.close();
    const f = Journal.open(p, { header }).state.folder('INBOX');
    expect(doneAsListed(f, { key: '4', size: 120 }, true)).toBe(true);
    expect(doneAsListed(f, { key: '4', size: 121 }, true)).toBe(false);
    expect(doneAsListed(f, { key: '5', size: 90 }, true)).toBe(true);
    // Done before sizes were journaled: done whatever its size; a source whose keys are never reused: by key alone.
    expect(doneAsListed(f, { key: '6', size: 1 }, true)).toBe(true);
    expect(doneAsListed(f, { key: '4', size: 121 }, false)).toBe(true);
    expect(doneAsListed(f, { key: '7', size: 1 }, true)).toBe(false);
  });

  it('a lost destination forgets the folder (done, pending, end) and what the dest folder held, also on replay', async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    j.append({ t: 'box', s: 'A', uv: '1' });
    j.append({ t: 'i', s: 'A', k: '1' });
    j.append({ t: 'c', s: 'A', k: '1', id: 'mid:<1@x>', d: '.A', dk: 'f1' });
    j.append({ t: 'i', s: 'A', k: '2' });
    j.append({ t: 'end', s: 'A', uv: '1', next: 2 });
    j.append({ t: 'k', s: 'B', k: '9', why: 'present' });
    await j.sync();
    j.close();
    const k = Journal.open(p, { header });
    expect(k.state.stored.get('.A')?.size).toBe(1);
    k.append({ t: 'lost', s: 'A', d: '.A' });
    const check = (s: typeof k.state) => {
      expect(s.folder('A').done.size + s.folder('A').pending.size).toBe(0);
      expect(s.folder('A').end).toBeUndefined();
      expect(s.folder('A').validity).toBe('1');
      expect(s.stored.has('.A')).toBe(false);
      expect([...s.folder('B').done]).toEqual(['9']);
    };
    check(k.state);
    k.append({ t: 'c', s: 'A', k: '1', id: 'mid:<1@x>', d: '.A', dk: 'f2' });
    await k.sync();
    k.close();
    const again = Journal.open(p, { header }).state;
    expect([...again.folder('A').done]).toEqual(['1']);
    expect(again.stored.get('.A')?.get('f2')).toBe('mid:<1@x>');
    expect(again.stored.get('.A')?.has('f1')).toBe(false);
  });

  it("a run's own stores stay out of memory, and the next open reads them back", async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    j.append({ t: 'i', s: 'A', k: '1' });
    j.append({ t: 'c', s: 'A', k: '1', id: 'mid:<1@x>', d: '.A', dk: 'f1' });
    expect(j.state.folder('A').done.has('1')).toBe(true);
    expect(j.state.stored.size).toBe(0);
    await j.sync();
    j.close();
    expect(Journal.open(p, { header }).state.stored.get('.A')?.get('f1')).toBe('mid:<1@x>');
  });

  it('compaction keeps the state and shrinks the file', async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    for (let i = 0; i < 2000; i++) {
      j.append({ t: 'i', s: 'A', k: String(i) });
      j.append({ t: 'c', s: 'A', k: String(i), id: `mid:<${i}@x>`, d: '.A', dk: `f${i}` });
    }
    await j.sync();
    const before = statSync(p).size;
    const head = () => readFileSync(p, 'utf8').split('\n')[0];
    const begun = head();
    await new Promise((r) => setTimeout(r, 5));
    j.compact();
    j.close();
    expect(statSync(p).size).toBeLessThan(before);
    // The header as it was: the job, and when its checkpoint was begun (not when it was compacted).
    expect(head()).toBe(begun);
    const s = Journal.open(p, { header }).state;
    expect(s.folder('A').done.size).toBe(2000);
    expect(s.stored.get('.A')?.get('f1999')).toBe('mid:<1999@x>');
    // Which destination folder the source folder went to survives compaction.
    expect(s.folder('A').dest).toBe('.A');
  });

  it('compaction writes the UIDs done as runs (kr): a few lines for a folder, replayed to the same state', async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    j.append({ t: 'box', s: 'A', uv: '9' });
    const done = new Set<string>();
    for (let i = 1; i <= 3000; i++) {
      if (i % 1000 === 500) continue; // gaps: four runs
      j.append({ t: 'i', s: 'A', k: String(i) });
      j.append({ t: 'c', s: 'A', k: String(i), id: `mid:<${i}@x>`, d: '.A', dk: `f${i}` });
      done.add(String(i));
    }
    // Keys that are not canonical numbers stay keys of their own; an intent stays pending.
    for (const k of ['0', '007', '1234567890', 'cur/1.host:2,S']) {
      j.append({ t: 'k', s: 'A', k, why: 'present' });
      done.add(k);
    }
    j.append({ t: 'i', s: 'A', k: '4000' });
    j.append({ t: 'end', s: 'A', uv: '9', next: 3001 });
    await j.sync();
    j.compact();
    j.close();
    const lines = readFileSync(p, 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l) as { t: string; k?: string; r?: string });
    expect(lines.filter((r) => r.t === 'kr').map((r) => r.r)).toEqual(['0-499,501-1499,1501-2499,2501-3000']);
    expect(lines.filter((r) => r.t === 'k').map((r) => r.k).sort()).toEqual(['007', '1234567890', 'cur/1.host:2,S']);
    const s = Journal.open(p, { header }).state;
    const f = s.folder('A');
    expect(new Set(f.done)).toEqual(done);
    expect([...f.pending]).toEqual(['4000']);
    expect(f.end).toEqual({ uv: '9', next: 3001 });
    expect(f.validity).toBe('9');
    expect(s.stored.get('.A')?.size).toBe(2997);
    // What follows a compaction in the file applies over the runs as over single keys.
    const k = Journal.open(p, { header });
    k.append({ t: 'box', s: 'A', uv: '9', again: true });
    k.append({ t: 'k', s: 'A', k: '7', why: 'present' });
    await k.sync();
    k.close();
    expect([...Journal.open(p, { header }).state.folder('A').done]).toEqual(['7']);
  });

  it('a history of copies (i and c per UID) is compacted when it is opened again, once it is well over what the runs and dest keys take', async () => {
    const history = async (n: number) => {
      const p = join(dir(), 'cp');
      const j = Journal.open(p, { header });
      for (let i = 1; i <= n; i++) {
        j.append({ t: 'i', s: 'A', k: String(i) });
        j.append({ t: 'c', s: 'A', k: String(i), id: `mid:<${i}@x>`, d: '.A', dk: `f${i}` });
      }
      await j.sync();
      j.close();
      return p;
    };
    // 2 records a message against ~1 compacted (the dest key): compacted past 20,000 messages.
    const big = await history(25_000);
    const before = readFileSync(big, 'utf8');
    await new Promise((r) => setTimeout(r, 5));
    const opened = Journal.open(big, { header });
    opened.close();
    const after = readFileSync(big, 'utf8');
    expect(after.length).toBeLessThan(0.7 * before.length);
    expect(after.split('\n')[0]).toBe(before.split('\n')[0]);
    expect(after).toContain('{"t":"kr","s":"A","r":"1-25000"}');
    const s = Journal.open(big, { header }).state;
    expect(s.folder('A').done.size).toBe(25_000);
    expect(s.stored.get('.A')?.get('f25000')).toBe('mid:<25000@x>');
    // A small one is left as it is.
    const small = await history(5_000);
    const kept = readFileSync(small, 'utf8');
    Journal.open(small, { header }).close();
    expect(readFileSync(small, 'utf8')).toBe(kept);
  });

  it('a folder of many runs takes several kr records of at most 1,000 runs; a kr line replays as a k per key', async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    for (let i = 0; i < 2500; i++) j.append({ t: 'k', s: 'B', k: String(2 * i), why: 'present' });
    await j.sync();
    j.compact();
    j.close();
    const kr = readFileSync(p, 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l) as { t: string; r: string }).filter((r) => r.t === 'kr');
    expect(kr.map((r) => r.r.split(',').length)).toEqual([1000, 1000, 500]);
    expect(Journal.open(p, { header }).state.folder('B').done.size).toBe(2500);
    // Written by hand after an intent: the intent is settled, as a k would settle it.
    const q = join(dir(), 'cp');
    const w = Journal.open(q, { header });
    w.append({ t: 'i', s: 'C', k: '5' });
    w.append({ t: 'kr', s: 'C', r: '3-6,9' });
    await w.sync();
    w.close();
    const c = Journal.open(q, { header }).state.folder('C');
    expect([...c.pending]).toEqual([]);
    expect([...c.done]).toEqual(['3', '4', '5', '6', '9']);
    // A run as long as a key can make (an edited file, say) is replayed by runs, not number by number.
    const x = join(dir(), 'cp');
    const e = Journal.open(x, { header });
    e.append({ t: 'i', s: 'D', k: '999999999' });
    e.append({ t: 'i', s: 'D', k: 'cur/1.host:2,S' });
    e.append({ t: 'kr', s: 'D', r: '0-999999999' });
    await e.sync();
    e.close();
    const d = Journal.open(x, { header }).state.folder('D');
    expect(d.done.size).toBe(1_000_000_000);
    expect([...d.pending]).toEqual(['cur/1.host:2,S']);
  });

  it('a kr line whose runs are not runs is corruption (exit 7), as any record without its fields', async () => {
    for (const r of ['5-3', '01', '1--2', '', '1,', ',1', '1-', '1234567890', '1 -2', '-1']) {
      const p = join(dir(), 'cp');
      const j = Journal.open(p, { header });
      j.append({ t: 'k', s: 'A', k: '1', why: 'present' });
      await j.sync();
      j.close();
      appendFileSync(p, JSON.stringify({ t: 'kr', s: 'A', r }) + '\n' + JSON.stringify({ t: 'k', s: 'A', k: '2', why: 'present' }) + '\n');
      expect(() => Journal.open(p, { header }), r).toThrow(/line 3 is not a checkpoint record/);
    }
  });

  it('what a scan only read in a destination folder (`seen`) is no message copied before, also after compaction', async () => {
    const p = join(dir(), 'cp');
    const j = Journal.open(p, { header });
    j.append({ t: 'c', s: 'A', k: '1', id: 'mid:<1@x>', d: '.A', dk: 'f1' });
    j.append({ t: 'd', d: '.A', dk: 'f2', id: 'mid:<2@x>', seen: true });
    await j.sync();
    j.close();
    const replayed = Journal.open(p, { header });
    expect([...replayed.state.copiedBefore('.A')]).toEqual(['mid:<1@x>']);
    // Both still known to the scan (not read again).
    expect(replayed.state.stored.get('.A')?.size).toBe(2);
    replayed.compact();
    replayed.close();
    const s = Journal.open(p, { header }).state;
    expect([...s.copiedBefore('.A')]).toEqual(['mid:<1@x>']);
    expect(s.stored.get('.A')?.get('f2')).toBe('mid:<2@x>');
  });
});

describe('checkpoint lock', () => {
  it('a second holder is refused (exit 7) naming pid and host', () => {
    const p = join(dir(), 'cp');
    const a = acquireLock(p, () => {});
    expect(() => acquireLock(p, () => {})).toThrow(expect.objectContaining({ code: 'CHECKPOINT_LOCKED', exitCode: 7, message: expect.stringContaining(`pid ${process.pid}`) }));
    a.release();
    acquireLock(p, () => {}).release();
  });
  it('a lock left by a dead process is taken over with a warning', () => {
    const p = join(dir(), 'cp');
    writeFileSync(p + '.lock', JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), started: 'x' }));
    const warnings: string[] = [];
    const l = acquireLock(p, (m) => warnings.push(m));
    expect(warnings.join()).toMatch(/stale lock/);
    l.release();
  });
  it('a lock whose pid now belongs to another process, or that outlived a reboot, is stale; a running owner keeps it', async () => {
    // A live process that is not the lock's owner: same pid, another start time (pid reuse).
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const take = (info: object) => {
        const p = join(dir(), 'cp');
        writeFileSync(p + '.lock', JSON.stringify({ pid: child.pid, host: hostname(), started: 'x', ...info }));
        const warnings: string[] = [];
        acquireLock(p, (m) => warnings.push(m)).release();
        return warnings.join();
      };
      expect(take({ boot, start: String(Number(start) + 1) })).toMatch(/stale lock of process/);
      expect(take({ boot: 'another-boot', start })).toMatch(/stale lock of process/);
      expect(() => take({ boot, start })).toThrow(expect.objectContaining({ code: 'CHECKPOINT_LOCKED' }));
      // A lock written without them (an older mailferry) is judged by the pid alone.
      expect(() => take({})).toThrow(expect.objectContaining({ code: 'CHECKPOINT_LOCKED' }));
    } finally {
      child.kill();
    }
  });
  it('two runs taking over one stale lock at the same instant: one gets it, never both (each had removed what the other made)', async () => {
    const d = dir();
    const lockJs = join(process.cwd(), 'dist', 'checkpoint', 'lock.js');
    const racer = join(d, 'racer.mjs');
    writeFileSync(
      racer,
      `import { acquireLock } from ${JSON.stringify(lockJs)};
const [at, base] = [Number(process.argv[2]), process.argv[3]];
while (Date.now() < at) {}
try { const l = acquireLock(base, () => {}); const got = Date.now(); setTimeout(() => { const gone = Date.now(); l.release(); console.log('ok', got, gone); }, 300); }
catch (e) { console.log('locked', e.code); }
`,
    );
    const run = (at: number, base: string) =>
      new Promise<string>((resolve) => {
        const c = spawn(process.execPath, [racer, String(at), base], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout.on('data', (b: Buffer) => (out += b.toString()));
        c.on('close', () => resolve(out.trim()));
      });
    // Both may get it one after the other (one started late on a loaded machine, after the other
    // had let go): never while the other holds it.
    let both = 0;
    const held = (o: string) => o.startsWith('ok');
    const overlap = (a: string, b: string) => {
      const [, a0, a1] = a.split(' ').map(Number);
      const [, b0, b1] = b.split(' ').map(Number);
      return a0 < b1 && b0 < a1;
    };
    for (let round = 0; round < 20; round++) {
      const base = join(d, `cp${round}`);
      // A lock left by a process that is gone.
      writeFileSync(base + '.lock', JSON.stringify({ pid: 2 ** 22 + 54321, host: hostname(), started: 'x' }) + '\n');
      const at = Date.now() + 400;
      const outs = await Promise.all([run(at, base), run(at, base)]);
      if (held(outs[0]) && held(outs[1]) && overlap(outs[0], outs[1])) both++;
      expect(outs.filter(held).length, outs.join(' | ')).toBeGreaterThanOrEqual(1);
    }
    expect(both).toBe(0);
  }, 60_000);
  it('a lock of another host (a container on this kernel, a killed `docker run`) is taken over once it has not been refreshed for 2 minutes (10 from another boot); a fresh one is refused', () => {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const take = (info: object, ageMs: number) => {
      const p = join(dir(), 'cp');
      // pid 1 of another PID namespace: alive here, but not that process.
      writeFileSync(p + '.lock', JSON.stringify({ pid: 1, host: 'ctr-aaa', started: 'x', start: '1', ...info }));
      const then = new Date(Date.now() - ageMs);
      utimesSync(p + '.lock', then, then);
      const warnings: string[] = [];
      acquireLock(p, (m) => warnings.push(m)).release();
      return warnings.join();
    };
    expect(take({ boot }, 3 * 60_000)).toMatch(/taking over the lock of process 1 on ctr-aaa: not refreshed for 3 minutes/);
    expect(() => take({ boot }, 30_000)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_LOCKED', message: expect.stringContaining('pid 1 on ctr-aaa') }));
    expect(() => take({ boot: 'another-boot' }, 5 * 60_000)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_LOCKED' }));
    expect(take({ boot: 'another-boot' }, 11 * 60_000)).toMatch(/taking over the lock of process 1 on ctr-aaa: not refreshed for 11 minutes/);
  });
  it('a held lock is refreshed every 30 s, so another host can tell a live run from a dead one', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    try {
      const p = join(dir(), 'cp');
      const l = acquireLock(p, () => {});
      const old = new Date(Date.now() - 10 * 60_000);
      utimesSync(p + '.lock', old, old);
      vi.advanceTimersByTime(31_000);
      expect(statSync(p + '.lock').mtimeMs).toBeGreaterThan(Date.now() - 5_000);
      l.release();
      expect(existsSync(p + '.lock')).toBe(false);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
  it("removes what killed runs left while making it (PATH.lock.PID.RAND), judged as a lock is; nothing else", () => {
    const d = dir();
    const p = join(d, 'cp');
    const dead = 2 ** 22 + 12345;
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    onTestFinished(() => void child.kill());
    const info = (pid: number, more: object = {}) => JSON.stringify({ pid, host: hostname(), started: 'x', ...more });
    const old = (name: string) => utimesSync(join(d, name), new Date(Date.now() - 11 * 60_000), new Date(Date.now() - 11 * 60_000));
    const files: Record<string, string> = {
      [`cp.lock.${dead}.0123abcd`]: info(dead), // gone: removed
      [`cp.lock.${child.pid}.0123abce`]: info(child.pid!, { start: '1' }), // its pid now another process's (pid reuse): removed
      [`cp.lock.${child.pid}.0123abc0`]: info(child.pid!), // a live process making its lock: stays
      [`cp.lock.${dead}.0123abcf`]: JSON.stringify({ pid: dead, host: 'elsewhere', started: 'x' }), // another host: stays
      [`cp.lock.${dead}.01234567`]: '', // killed before writing, 11 minutes ago: removed
      [`cp.lock.${dead}.89abcdef`]: '', // killed before writing, or being written now: stays
      [`cp.lock.${dead}.0123abcdx`]: info(dead), // not a name of ours
      [`other.lock.${dead}.0123abcd`]: info(dead), // another lock's: its own run removes it
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
    old(`cp.lock.${dead}.01234567`);
    const l = acquireLock(p, () => {});
    l.release();
    expect(readdirSync(d).sort()).toEqual(
      Object.keys(files)
        .filter((n) => ![`cp.lock.${dead}.0123abcd`, `cp.lock.${dead}.01234567`, `cp.lock.${child.pid}.0123abce`].includes(n))
        .sort(),
    );
  });
  it('a lock names its boot and its process start time', () => {
    const p = join(dir(), 'cp');
    const l = acquireLock(p, () => {});
    const info = JSON.parse(readFileSync(p + '.lock', 'utf8'));
    expect(info).toMatchObject({ pid: process.pid, boot: expect.stringMatching(/^[0-9a-f-]{36}$/), start: expect.stringMatching(/^\d+$/) });
    l.release();
  });
});
