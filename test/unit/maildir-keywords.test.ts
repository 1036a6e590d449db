// Maildir keywords: the dovecot-keywords table, the info letters, and the sink's limits.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flagsToInfo, formatKeywords, infoToFlags, isKeyword, parseKeywords } from '../../src/drivers/maildir/flags.js';
import { MaildirSink } from '../../src/drivers/maildir/sink.js';

describe('keyword table and info letters', () => {
  it('parses what Dovecot writes, and writes it back the same', () => {
    const text = '0 $Forwarded\n1 Junk\n3 Zeta\n';
    const table = parseKeywords(text);
    expect(table).toEqual(['$Forwarded', 'Junk', undefined, 'Zeta']);
    expect(formatKeywords(table)).toBe(text);
  });

  it('skips malformed lines, indexes past z and names that are no keyword', () => {
    expect(parseKeywords('x Junk\n26 Late\n2 two words\n1 \\Seen\n0 Ok\r\n')).toEqual(['Ok']);
  });

  it('letters: system flags upper case, keywords by the table, in ASCII order; and back', () => {
    const table = ['$Forwarded', 'Junk', 'NonJunk'];
    const letterOf = (k: string) => ({ $forwarded: 'a', junk: 'b', nonjunk: 'c' })[k.toLowerCase()];
    expect(flagsToInfo(['Junk', '\\Seen', '$Forwarded', '\\Flagged', 'Unknown'], letterOf)).toBe('FSab');
    expect(infoToFlags('123.M1P2.host,S=5:2,FSab', table)).toEqual(['\\Flagged', '\\Seen', '$Forwarded', 'Junk']);
    // A letter the table does not name is dropped, as are keywords without a table.
    expect(infoToFlags('x:2,Sz', table)).toEqual(['\\Seen']);
    expect(flagsToInfo(['Junk', '\\Seen'])).toBe('S');
    // "Passed" (the Maildir spec's P, mutt's forwarded) is $Forwarded, once however it is said.
    expect(infoToFlags('x:2,DFPRST')).toEqual(['\\Draft', '\\Flagged', '$Forwarded', '\\Answered', '\\Seen', '\\Deleted']);
    expect(infoToFlags('x:2,PSa', table)).toEqual(['$Forwarded', '\\Seen']);
  });

  it('isKeyword: an IMAP atom that is no system flag', () => {
    for (const ok of ['$Forwarded', 'Junk', '$label1', 'a.b-c_d']) expect(isKeyword(ok), ok).toBe(true);
    for (const bad of ['\\Seen', '', 'two words', 'new\nline', 'par(en', 'quo"te', 'back\\slash', 'caf\u00e9', 'x'.repeat(201)]) expect(isKeyword(bad), bad).toBe(false);
  });
});

describe('MaildirSink and keywords', () => {
  it('gives new keywords the free letters of an existing table, and stores at most 26', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mf-kwsink-'));
    const sink = await MaildirSink.open(root);
    // A table a mail server already wrote, with a hole at 1.
    writeFileSync(join(root, 'dovecot-keywords'), '0 Junk\n2 $Forwarded\n');
    const w = await sink.writer();
    const body = Buffer.from('Subject: k\n\nx\n');
    await w.put('INBOX', body, { flags: ['junk', 'NonJunk', '\\Seen'] });
    for (let i = 0; i < 30; i++) await w.put('INBOX', body, { flags: [`kw${i}`] });
    await w.close();
    const table = parseKeywords(readFileSync(join(root, 'dovecot-keywords'), 'utf8'));
    expect(table.length).toBe(26);
    expect(table.slice(0, 4)).toEqual(['Junk', 'NonJunk', '$Forwarded', 'kw0']);
    const names = readdirSync(join(root, 'cur'));
    expect(names.length).toBe(31);
    // "junk" is the table's "Junk" (keywords match without regard to case).
    expect(names.filter((n) => n.endsWith(':2,Sab'))).toHaveLength(1);
    // kw0..kw22 got the letters d..z; kw23..kw29 found the table full.
    expect(names.filter((n) => /:2,[d-z]$/.test(n))).toHaveLength(23);
    expect(names.filter((n) => n.endsWith(':2,'))).toHaveLength(7);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
  });

  it("shares the table with Dovecot serving the same Maildir: waits for its uidlist lock, reads the table again, never takes a letter Dovecot gave", async () => {
    const root = mkdtempSync(join(tmpdir(), 'mf-kwlock-'));
    const sink = await MaildirSink.open(root);
    const table = () => readFileSync(join(root, 'dovecot-keywords'), 'utf8');
    const lock = join(root, 'dovecot-uidlist.lock');
    writeFileSync(join(root, 'dovecot-keywords'), '0 Alpha\n');
    const w = await sink.writer();
    const body = Buffer.from('Subject: k\n\nx\n');

    // Dovecot holds its lock (a live process of this host) while it gives 'Hot' the next letter.
    writeFileSync(lock, `${process.pid}:${hostname()}`);
    let stored = false;
    const put = w.put('INBOX', body, { flags: ['K1'] }).then((r) => ((stored = true), r));
    await new Promise((r) => setTimeout(r, 400));
    expect(stored).toBe(false);
    writeFileSync(join(root, 'dovecot-keywords'), '0 Alpha\n1 Hot\n');
    rmSync(lock);
    await put;
    expect(table()).toBe('0 Alpha\n1 Hot\n2 K1\n');
    expect(readdirSync(join(root, 'cur'))).toEqual([expect.stringMatching(/:2,c$/)]);
    expect(existsSync(lock)).toBe(false);

    // Dovecot adds a keyword while the run goes on (no lock held now): the next new keyword reads it.
    writeFileSync(join(root, 'dovecot-keywords'), '0 Alpha\n1 Hot\n2 K1\n3 Later\n');
    await w.put('INBOX', body, { flags: ['K2', 'Hot'] });
    expect(table()).toBe('0 Alpha\n1 Hot\n2 K1\n3 Later\n4 K2\n');
    // A lock left by a process that is gone is stale at once, as Dovecot judges it.
    writeFileSync(lock, `999999999:${hostname()}`);
    await w.put('INBOX', body, { flags: ['K3'] });
    await w.close();
    expect(table()).toBe('0 Alpha\n1 Hot\n2 K1\n3 Later\n4 K2\n5 K3\n');
    expect(readdirSync(join(root, 'cur')).map((n) => n.split(':2,')[1]).sort()).toEqual(['be', 'c', 'f']);
    expect(existsSync(lock)).toBe(false);
  });
});
