// What a user types wrong, table-driven, through the real CLI against the real Dovecot. Each:
// one clear line on stderr (no stack trace), the documented exit code, and the Maildir filled by
// a good copy first is byte-for-byte the same afterwards.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { expectOneLineError, h, snapshot, srcUrl, tls } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mf-bad-'));
const md = join(work, 'md');
const cp = join(work, 'cp.journal');
// NODE_ENV=test (set by vitest) makes oclif warn about commands whose parse() threw; users run without it.
const env = { MAILFERRY_SOURCE_PASSWORD: h.user.password, XDG_STATE_HOME: join(work, 'state'), NODE_ENV: 'production' };
const u = h.user.name;
const H = h.host;
const P = h.ports;
const aFile = join(work, 'a-file');
const immutable = join(work, 'immutable');
const good = (...more: string[]) => ['copy', srcUrl(), `maildir:${md}`, ...tls, '--folder', 'Fixtures', '--checkpoint', cp, ...more];

interface Case {
  name: string;
  args: string[];
  code: number;
  line: RegExp;
  env?: Record<string, string | undefined>;
  setup?: () => void;
  cleanup?: () => void;
  cwd?: string;
}

const cases: Case[] = [
  { name: 'unknown scheme', args: ['copy', `imapx://${u}@${H}`, `maildir:${md}`], code: 3, line: /unknown scheme 'imapx:'/ },
  { name: 'a path instead of a URL', args: ['copy', srcUrl(), md], code: 3, line: /dest URL: '.*' is not a URL \(for a local Maildir write maildir:/ },
  { name: "typo'd host", args: ['copy', `imap://${u}@no-such-host.invalid`, `maildir:${md}`, '--timeout', '5'], code: 5, line: /host no-such-host\.invalid not found \(check the host name/ },
  { name: 'a port out of range', args: ['copy', `imap://${u}@${H}:99999`, `maildir:${md}`], code: 3, line: /source URL: port 99999 is out of range/ },
  { name: 'a negative port', args: ['copy', `imap://${u}@${H}:-1/INBOX`, `maildir:${md}`], code: 3, line: /source URL: port -1 is out of range/ },
  { name: 'a port that is not a number', args: ['copy', srcUrl(), `imap://${u}@${H}:imap`], code: 3, line: /dest URL: port 'imap' is not a number/ },
  { name: 'wrong port (nothing listening)', args: ['copy', `imap://${u}@${H}:1`, `maildir:${md}`], code: 5, line: /connection to 127\.0\.0\.1:1 refused/ },
  { name: 'TLS on a plain port', args: ['copy', `imaps://${u}@${H}:${P.imap}`, `maildir:${md}`, ...tls], code: 4, line: /does not speak TLS/ },
  { name: 'plain on a TLS port', args: ['copy', `imap://${u}@${H}:${P.imaps}`, `maildir:${md}`, ...tls, '--timeout', '2'], code: 5, line: /sent (no IMAP greeting \(if this is a TLS port \(993\), use imaps:\/\/\)|nothing for 2 s)/ },
  // Said at the POP3 greeting, not after the greeting timeout (16 s here).
  { name: 'imap:// on a POP3 port', args: ['copy', `imap://${u}@${H}:${P.pop3}`, `maildir:${md}`, '--checkpoint', join(work, 'imap-on-pop3.journal')], code: 5, line: /127\.0\.0\.1:\d+ greets as a POP3 server, not IMAP \(use pop3:\/\/ for this port, or the IMAP port: 143, 993 with imaps:\/\/\)/ },
  // SOURCE and DEST the wrong way round (the backup first): the source password is set, the Maildir takes none, the destination finds none.
  { name: 'verify with SOURCE and DEST swapped', args: ['verify', `maildir:${md}`, srcUrl(), ...tls], code: 3, line: /no password for the dest \(.*; SOURCE comes first, then DEST: is maildir:.*\/md meant as DEST\?\)$/ },
  { name: 'copy with SOURCE and DEST swapped', args: ['copy', `maildir:${md}`, srcUrl(), ...tls, '--checkpoint', join(work, 'swapped.journal')], code: 3, line: /no password for the dest \(.*; SOURCE comes first, then DEST: is maildir:.*\/md meant as DEST\?\)$/, cleanup: () => expect(existsSync(join(work, 'swapped.journal'))).toBe(false) },
  { name: 'missing password', args: good(), env: { MAILFERRY_SOURCE_PASSWORD: undefined }, code: 3, line: /no password for the source/ },
  { name: 'wrong password', args: good(), env: { MAILFERRY_SOURCE_PASSWORD: 'not-the-password' }, code: 4, line: /login as .* failed.*\(check the user name and the password source\)/ },
  { name: 'self-signed certificate without --tls-ca', args: ['copy', `imaps://${u}@${H}:${P.imaps}`, `maildir:${md}`, '--checkpoint', join(work, 'tls.journal')], code: 4, line: /TLS certificate of .* not trusted: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\) \(trust its CA with --tls-ca FILE/ },
  // Worded as for IMAP: one failure, one message.
  { name: 'self-signed certificate without --tls-ca, POP3', args: ['copy', `pop3s://${u}@${H}:${P.pop3s}`, `maildir:${md}`, '--checkpoint', join(work, 'tls3.journal')], code: 4, line: /TLS certificate of .* not trusted: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\) \(trust its CA with --tls-ca FILE/ },
  { name: 'non-existent folder in the URL', args: ['copy', srcUrl('NoSuchFolder'), `maildir:${md}`, ...tls], code: 3, line: /the source has no folder 'NoSuchFolder' \(it has: / },
  { name: '--folder matching nothing', args: ['copy', srcUrl(), `maildir:${md}`, ...tls, '--folder', 'Nope*', '--checkpoint', cp], code: 3, line: /no source folder matches --folder/ },
  { name: 'Maildir path under a file', args: ['copy', srcUrl(), `maildir:${aFile}/sub`, ...tls], code: 3, line: /is not a directory/ },
  { name: 'a file where the Maildir should be', args: ['copy', srcUrl(), `maildir:${aFile}`, ...tls], code: 3, line: /a-file is not a directory \(a file stands where the Maildir should be/ },
  {
    name: 'unwritable Maildir path (immutable directory)',
    args: ['copy', srcUrl(), `maildir:${immutable}/md`, ...tls, '--folder', 'Fixtures'],
    code: 3,
    line: /cannot write .*immutable\/md: permission denied/,
    setup: () => execFileSync('chattr', ['+i', immutable]),
    cleanup: () => execFileSync('chattr', ['-i', immutable]),
  },
  {
    name: 'the filled Maildir made unwritable, more folders asked for',
    args: ['copy', srcUrl(), `maildir:${md}`, ...tls, '--folder', 'Junk/Old', '--checkpoint', join(work, 'other.journal')],
    code: 3,
    line: /permission denied/,
    setup: () => execFileSync('chattr', ['+i', md]),
    cleanup: () => execFileSync('chattr', ['-i', md]),
  },
  { name: 'malformed job file', args: ['copy', '--config', join(work, 'broken.yaml')], code: 3, line: /broken\.yaml line \d+: .*\(a job file is YAML or JSON/ },
  { name: 'unknown key in the job file', args: ['copy', '--config', join(work, 'typo.yaml')], code: 3, line: /typo\.yaml line 1: unknown key 'sorce' \(did you mean 'source'\?\)/ },
  { name: 'negative concurrency', args: [...good(), '--concurrency=-1'], code: 2, line: /greater than or equal to 1/ },
  { name: 'concurrency not a number', args: [...good(), '-j', 'many'], code: 2, line: /Expected an integer/ },
  { name: 'bad date', args: [...good(), '--since', '2024-13-45'], code: 2, line: /--since: '2024-13-45' is not a date \(write it as YYYY-MM-DD/ },
  { name: 'a date in words', args: [...good(), '--before', 'yesterday'], code: 2, line: /--before: 'yesterday' is not a date/ },
  { name: 'a duration in words', args: [...good(), '--max-runtime', 'an hour'], code: 2, line: /--max-runtime: 'an hour' is not a duration \(write it as seconds or with units: 90, 90s, 45m, 2h/ },
  { name: 'a zero duration', args: [...good(), '--max-runtime', '0m'], code: 2, line: /--max-runtime: '0m' must be more than 0/ },
  { name: '--since after --before', args: [...good(), '--since', '2024-02-01', '--before', '2024-01-01'], code: 2, line: /--since must be earlier than --before/ },
  { name: 'bad size', args: [...good(), '--max-size', '10Q'], code: 2, line: /--max-size: '10Q' is not a size/ },
  { name: '--map without =', args: [...good(), '--map', 'Junk'], code: 2, line: /--map: 'Junk' is not SOURCE=DEST/ },
  { name: '--map from a folder that does not exist', args: [...good(), '--map', 'Sent Items=Sent'], code: 3, line: /--map: the source has no folder 'Sent Items'/ },
  { name: 'a flag that does not exist', args: [...good(), '--folders', 'INBOX'], code: 2, line: /Nonexistent flag: --folders/ },
  // A script's unset "$F": an empty value is a mistake, not "every folder" (it was an internal error, exit 1).
  { name: 'an empty --folder', args: [...good(), '--folder', ''], code: 2, line: /--folder needs a value, not an empty string/ },
  { name: 'an empty --exclude', args: [...good(), '--exclude', ''], code: 2, line: /--exclude needs a value, not an empty string/ },
  { name: 'an empty --checkpoint', args: good().map((a) => (a === cp ? '' : a)), code: 2, line: /--checkpoint needs a file name, not an empty string/ },
  { name: 'an empty --log-file', args: good('--log-file', ''), code: 2, line: /--log-file needs a file name, not an empty string/ },
  { name: 'one folder mapped twice', args: [...good(), '--map', 'Fixtures=X', '--map', 'Fixtures=Y'], code: 2, line: /--map 'Fixtures' is given twice: to 'X' and to 'Y'/ },
  { name: 'a value given to a flag that takes none', args: [...good(), '--dry-run=yes'], code: 2, line: /--dry-run takes no value/ },
  { name: 'checkpoint show of a device (read without end)', args: ['checkpoint', 'show', '/dev/zero'], code: 3, line: /\/dev\/zero is not a mailferry checkpoint/ },
  { name: 'missing destination', args: ['copy', srcUrl()], code: 2, line: /missing DEST/ },
  { name: 'password in the URL', args: ['copy', `imap://${u}:secret@${H}`, `maildir:${md}`], code: 3, line: /contains a password/ },
  // The URL cannot be parsed, so the password check never sees it: the text quoted is masked.
  { name: 'password in a URL that does not parse', args: ['copy', srcUrl(), `imaps://bob:Sup3rSecretPW@${H} x`], code: 3, line: /dest URL: cannot parse 'imaps:\/\/bob:\*\*\*@127\.0\.0\.1 x'/ },
  { name: 'password in a URL with a bad port', args: ['copy', srcUrl(), `imaps://bob:Sup3rSecretPW@${H}:70000`], code: 3, line: /dest URL: port 70000 is out of range/ },
  { name: 'password in something that is not a URL', args: ['folders', `${u}:Sup3rSecretPW@${H}`], code: 3, line: /source URL: '.*:\*\*\*@127\.0\.0\.1' is not a URL/ },
  { name: 'POP3 URL with a folder', args: ['copy', `pop3://${u}@${H}/INBOX`, `maildir:${md}`], code: 3, line: /POP3 has no folders/ },
  { name: 'no user name', args: ['copy', `imap://${H}`, `maildir:${md}`], code: 3, line: /no user name \(put it before the host/ },
  { name: '--tls-ca file missing', args: [...good(), '--tls-ca', join(work, 'nope.pem')], code: 3, line: /cannot read --tls-ca .*nope\.pem: ENOENT/ },
  { name: 'password file missing', args: [...good(), '--source-password-file', join(work, 'nope.pw')], env: { MAILFERRY_SOURCE_PASSWORD: undefined }, code: 3, line: /cannot read --source-password-file/ },
  { name: 'checkpoint of another job', args: ['copy', srcUrl('Junk'), `maildir:${md}`, ...tls, '--checkpoint', cp], code: 3, line: /belongs to another job .*, not this one .*\(the source changed .*--restart starts it over for this job .*, or use another --checkpoint path\)/ },
  {
    name: 'checkpoint locked by a running copy',
    args: good(),
    code: 7,
    line: /another mailferry run \(pid 1 on .*\) holds/,
    setup: () => writeFileSync(cp + '.lock', JSON.stringify({ pid: 1, host: hostname(), started: 'earlier' }) + '\n'),
    cleanup: () => execFileSync('rm', ['-f', cp + '.lock']),
  },
  { name: 'unknown --dedupe', args: [...good(), '--dedupe', 'md5'], code: 2, line: /Expected --dedupe=md5 to be one of/ },
  { name: 'POP3 as a destination', args: ['copy', srcUrl(), `pop3://${u}@${H}`], code: 2, line: /cannot be a destination/ },
  { name: '--quiet with --verbose', args: [...good(), '--quiet', '--verbose'], code: 2, line: /--quiet and --verbose cannot both be on/ },
  { name: 'verify with a file as the destination', args: ['verify', srcUrl(), `maildir:${aFile}`, ...tls], code: 3, line: /is not a directory/ },
  { name: 'checkpoint show of nothing', args: ['checkpoint', 'show', join(work, 'none.journal')], code: 3, line: /no checkpoint at/ },
  { name: '--restart with --checkpoint naming a file that is not a checkpoint', args: good('--restart').map((a) => (a === cp ? aFile : a)), code: 3, line: /a-file is not a mailferry checkpoint: --restart would overwrite it/ },
  { name: '--checkpoint naming a directory', args: good().map((a) => (a === cp ? md : a)), code: 3, line: /checkpoint .*\/md is a directory/ },
  { name: '--report and --checkpoint the same file', args: good('--report', cp), code: 2, line: /--checkpoint and --report name the same file/ },
  { name: '--log-file and --checkpoint the same file', args: good('--log-file', cp), code: 2, line: /--checkpoint and --log-file name the same file/ },
  // A file the run reads is never one it writes: --report truncated the password file (and the run
  // then failed on an empty one), or the job file; --log-file appended to either, or to a --tls-ca.
  {
    name: '--report naming the password file',
    args: [...good(), '--source-password-file', join(work, 'keep.pw'), '--report', join(work, 'keep.pw')],
    setup: () => writeFileSync(join(work, 'keep.pw'), h.user.password + '\n', { mode: 0o600 }),
    code: 2,
    line: /--source-password-file and --report name the same file .*keep\.pw/,
    cleanup: () => expect(readFileSync(join(work, 'keep.pw'), 'utf8')).toBe(h.user.password + '\n'),
  },
  {
    name: '--report naming the job file',
    args: ['copy', '--config', join(work, 'keep.yaml'), '--report', join(work, 'keep.yaml')],
    setup: () => writeFileSync(join(work, 'keep.yaml'), `source: ${srcUrl()}\ndest: maildir:md\ntls-ca: ${h.certPem}\nfolder: Fixtures\ncheckpoint: cp.journal\n`),
    code: 2,
    line: /--config and --report name the same file .*keep\.yaml/,
    cleanup: () => expect(readFileSync(join(work, 'keep.yaml'), 'utf8')).toMatch(/^source: /),
  },
  {
    name: '--log-file naming a --tls-ca file',
    args: [...good(), '--tls-ca', join(work, 'ca.pem'), '--log-file', join(work, 'ca.pem')],
    setup: () => writeFileSync(join(work, 'ca.pem'), readFileSync(h.certPem)),
    code: 2,
    line: /--tls-ca and --log-file name the same file/,
    cleanup: () => expect(readFileSync(join(work, 'ca.pem')).equals(readFileSync(h.certPem))).toBe(true),
  },
  { name: "verify's --log-file naming the copy's checkpoint", args: ['verify', srcUrl(), `maildir:${md}`, ...tls, '--folder', 'Fixtures', '--checkpoint', cp, '--log-file', cp], code: 2, line: /--checkpoint and --log-file name the same file/ },
  // The same for checkpoint show/reset and folders, which also take --log-file: it appended its lines to
  // the checkpoint (the next copy: exit 7, unreadable), the job file or the password file.
  {
    name: 'checkpoint show with --log-file naming the checkpoint',
    args: ['checkpoint', 'show', cp, '--log-file', cp],
    setup: () => writeFileSync(join(work, 'cp.saved'), readFileSync(cp)),
    code: 2,
    line: /PATH and --log-file name the same file .*cp\.journal/,
    cleanup: () => expect(readFileSync(cp).equals(readFileSync(join(work, 'cp.saved')))).toBe(true),
  },
  {
    name: 'checkpoint reset -c with --log-file naming the job file',
    args: ['checkpoint', 'reset', '-c', join(work, 'keep2.yaml'), '--log-file', join(work, 'keep2.yaml')],
    setup: () => writeFileSync(join(work, 'keep2.yaml'), `source: ${srcUrl()}\ndest: maildir:md\ncheckpoint: cp.journal\n`),
    code: 2,
    line: /--config and --log-file name the same file .*keep2\.yaml/,
    cleanup: () => {
      expect(readFileSync(join(work, 'keep2.yaml'), 'utf8')).toBe(`source: ${srcUrl()}\ndest: maildir:md\ncheckpoint: cp.journal\n`);
      expect(existsSync(cp)).toBe(true);
    },
  },
  {
    name: 'folders with --log-file naming the password file',
    args: ['folders', srcUrl(), ...tls, '--source-password-file', join(work, 'keep3.pw'), '--log-file', join(work, 'keep3.pw')],
    setup: () => writeFileSync(join(work, 'keep3.pw'), h.user.password + '\n', { mode: 0o600 }),
    code: 2,
    line: /--source-password-file and --log-file name the same file .*keep3\.pw/,
    cleanup: () => expect(readFileSync(join(work, 'keep3.pw'), 'utf8')).toBe(h.user.password + '\n'),
  },
  // A file the run writes inside a Maildir's cur/, new/ or tmp/: read back as a message (a copy of
  // that Maildir stored the run's own report and log; a mail client lists the checkpoint).
  { name: "--report in the source Maildir's cur/", args: ['copy', `maildir:${md}`, `maildir:${join(work, 'md-copy')}`, '--checkpoint', join(work, 'md-copy.j'), '--report', join(md, 'cur', 'report.ndjson')], code: 2, line: /--report .*md\/cur\/report\.ndjson is in the Maildir .*md's cur\/, new\/ or tmp\/: it would be read as a message/ },
  { name: "--checkpoint in a folder's new/ of the destination Maildir", args: good().map((a) => (a === cp ? join(md, '.Fixtures', 'new', 'cp.journal') : a)), code: 2, line: /--checkpoint .*\.Fixtures\/new\/cp\.journal is in the Maildir/ },
  { name: "verify's --log-file in the destination Maildir's tmp/", args: ['verify', srcUrl(), `maildir:${md}`, ...tls, '--folder', 'Fixtures', '--log-file', join(md, 'tmp', 'verify.log')], code: 2, line: /--log-file .*md\/tmp\/verify\.log is in the Maildir/ },
  // A trailing '/' names a directory: it was 'cannot create the lock …/new-dir/.lock: no such directory'.
  { name: '--checkpoint ending with / (a directory that does not exist yet)', args: good().map((a) => (a === cp ? join(work, 'new-dir') + '/' : a)), code: 2, line: /--checkpoint .*new-dir\/ ends with '\/': it names a directory, not a file/ },
  { name: 'an unwritable --log-file', args: good('--log-file', join(aFile, 'log')), code: 3, line: /cannot write --log-file .*a-file\/log: / },
  { name: 'no writable state directory (cron as a system user)', args: ['copy', srcUrl(), `maildir:${md}`, ...tls, '--folder', 'Fixtures'], env: { XDG_STATE_HOME: join(aFile, 'state') }, code: 3, line: /cannot create the state directory .*a-file\/state\/mailferry: a file stands in the way \(set XDG_STATE_HOME/ },
  { name: 'a checkpoint directory that cannot be made', args: good().map((a) => (a === cp ? join(aFile, 'cp.journal') : a)), code: 3, line: /cannot create the checkpoint directory .*a-file/ },
  { name: 'a Maildir copied into itself', args: ['copy', `maildir:${md}`, `maildir:${md}/`], code: 3, line: /the source and the destination are the same Maildir/ },
  { name: 'a Maildir copied into a directory inside it', args: ['copy', `maildir:${md}`, `maildir:${md}/backup`], code: 3, line: /lie one inside the other/ },
  // Node's recursive mkdir never returns there (ENOENT with the parent present): each is one line, at once.
  { name: 'a destination under /proc', args: ['copy', srcUrl(), 'maildir:/proc/mailferry-backup/alice', ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'proc.journal')], code: 3, line: /cannot create \/proc\/mailferry-backup\/alice: \/proc takes no new directories/ },
  { name: 'a checkpoint under /proc', args: good().slice(0, -2).concat(['--checkpoint', '/proc/mailferry/cp.journal']), code: 3, line: /cannot create the checkpoint directory \/proc\/mailferry: no such directory/ },
  { name: 'a state directory under /proc', args: ['copy', srcUrl(), `maildir:${md}`, ...tls, '--folder', 'Fixtures'], env: { XDG_STATE_HOME: '/proc/mailferry-state' }, code: 3, line: /cannot create the state directory \/proc\/mailferry-state\/mailferry: no such directory \(set XDG_STATE_HOME \(or HOME\) to a writable directory\)$/ },
  { name: "a destination under a symbolic link to nothing", args: ['copy', srcUrl(), `maildir:${join(work, 'dangling')}/backup`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'dangling.journal')], setup: () => symlinkSync(join(work, 'no-such-target'), join(work, 'dangling')), code: 3, line: /dangling is a symbolic link to nothing/ },
  {
    name: 'a new Maildir deep under a directory that cannot be written',
    args: ['copy', srcUrl(), `maildir:${immutable}/a/b/c`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'deep.journal')],
    code: 3,
    line: /cannot write .*immutable\/a\/b\/c: permission denied/,
    setup: () => execFileSync('chattr', ['+i', immutable]),
    cleanup: () => {
      execFileSync('chattr', ['-i', immutable]);
      expect(existsSync(join(work, 'deep.journal'))).toBe(false);
    },
  },
  { name: 'pop3s:// on a plain POP3 port', args: ['copy', `pop3s://${u}@${H}:${P.pop3}`, `maildir:${md}`, '--checkpoint', join(work, 'p3tls.journal')], code: 4, line: /does not speak TLS \(plain POP3 on this port\?\) \(pop3s:\/\/ is for port 995/ },
  { name: 'a --tls-ca file that is no certificate', args: [...good(), '--tls-ca', aFile], code: 3, line: /--tls-ca .*a-file holds no PEM certificate/ },
  { name: 'an empty password file', args: [...good(), '--source-password-file', join(work, 'empty.pw')], setup: () => writeFileSync(join(work, 'empty.pw'), '', { mode: 0o600 }), code: 3, line: /--source-password-file .*empty\.pw is empty/ },
  { name: 'an empty password variable', args: good(), env: { MAILFERRY_SOURCE_PASSWORD: '' }, code: 3, line: /MAILFERRY_SOURCE_PASSWORD is set but empty/ },
  { name: 'verify against a Maildir path that does not exist', args: ['verify', srcUrl(), `maildir:${join(work, 'no-such-backup')}`, ...tls], code: 3, line: /no-such-backup does not exist \(check the maildir: path/ },
  { name: 'folders of a folder that does not exist', args: ['folders', srcUrl('NoSuchFolder'), ...tls], code: 3, line: /has no folder 'NoSuchFolder'/ },
  { name: 'a mistyped command', args: ['cpoy', srcUrl(), `maildir:${md}`], code: 2, line: /unknown command 'cpoy' \(did you mean 'mailferry copy'\?\)/ },
  { name: '-q with -v, short forms', args: [...good(), '-q', '-v'], code: 2, line: /error: --quiet and --verbose cannot both be on/ },
  { name: 'a missing argument says which', args: ['checkpoint', 'show'], code: 2, line: /^mailferry: error: missing PATH: the checkpoint file \(or --config FILE for a job file's; see: mailferry checkpoint show --help\)$/ },
  { name: 'a missing argument with a long description, a repeatable flag given: said whole, without oclif\'s note on flag order', args: ['folders', '--tls-ca', '/nonexistent'], code: 2, line: /^mailferry: error: missing ENDPOINT: the store to look at \(imap:\/\/, imaps:\/\/, pop3:\/\/, pop3s:\/\/, maildir:PATH\) \(see: mailferry folders --help\)$/ },
  // An empty query: URL parsing drops it, and a folder 'What' would have been looked for.
  { name: "a '?' at the end of a folder name", args: ['copy', srcUrl('What') + '?', `maildir:${md}`, ...tls], code: 3, line: /source URL: query or fragment not understood \(.*'\?' or '#' in a folder name is %3F or %23/ },
  { name: "a '%' in a folder name that starts no escape", args: ['copy', srcUrl('Sales 100%'), `maildir:${md}`, ...tls], code: 3, line: /source URL: '.*' has a '%' that starts no %XX escape \(write a '%' in a user or folder name as %25/ },
  { name: "a '%' in the user name", args: ['folders', `imap://s%ZZrc@${H}:${P.imap}`, ...tls], code: 3, line: /has a '%' that starts no %XX escape/ },
  { name: 'maildir:// before user:password@: masked in the hint as in the message', args: ['copy', srcUrl(), 'maildir://alice:hunter22xyz@host/x', ...tls], code: 3, line: /^(?!.*hunter22xyz).*names no absolute path after maildir:\/\/ \(write maildir:\/alice:\*\*\*@host\/x/ },
  // 'maildir: /srv/backup' (a space after the colon): it was the relative path ' /srv/backup', a directory named ' ' made here.
  {
    name: 'a space after maildir:',
    args: ['copy', srcUrl(), `maildir: ${join(work, 'spaced')}`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'spaced.journal')],
    cwd: work,
    code: 3,
    line: /dest URL: 'maildir: .*spaced' has a space after 'maildir:' \(write maildir:\/.*spaced; for a directory whose name begins with a space, write maildir:\.\/ name\)$/,
    cleanup: () => expect([existsSync(join(work, ' ')), existsSync(join(work, 'spaced')), existsSync(join(work, 'spaced.journal'))]).toEqual([false, false, false]),
  },
  {
    name: 'a space after maildir: in a job file (quoted)',
    args: ['copy', '--config', join(work, 'spaced.yaml')],
    setup: () => writeFileSync(join(work, 'spaced.yaml'), `source: ${srcUrl()}\ndest: "maildir: ${join(work, 'spaced2')}"\ntls-ca: ${h.certPem}\nfolder: Fixtures\ncheckpoint: spaced2.journal\n`),
    code: 3,
    line: /dest URL: 'maildir: .*spaced2' has a space after 'maildir:'/,
    cleanup: () => expect([existsSync(join(work, ' ')), existsSync(join(work, 'spaced2.journal'))]).toEqual([false, false]),
  },
  { name: 'a space after maildir: in folders', args: ['folders', `maildir:\t${md}`], cwd: work, code: 3, line: /source URL: 'maildir:\t.*md' has a space after 'maildir:'/ },
  { name: 'maildir:// before a relative path', args: ['copy', srcUrl(), 'maildir://srv/backup', ...tls], code: 3, line: /dest URL: 'maildir:\/\/srv\/backup' names no absolute path after maildir:\/\/ \(write maildir:\/srv\/backup/ },
  { name: 'a --timeout beyond a day', args: [...good(), '--timeout', '2147484'], code: 2, line: /less than or equal to 86400/ },
  {
    name: 'a checkpoint of another job makes no destination',
    args: ['copy', srcUrl('Junk'), `maildir:${join(work, 'fresh')}`, ...tls, '--checkpoint', cp],
    code: 3,
    line: /belongs to another job/,
    cleanup: () => expect(existsSync(join(work, 'fresh'))).toBe(false),
  },
  {
    name: 'a --checkpoint that is no checkpoint makes no destination',
    args: ['copy', srcUrl('Junk'), `maildir:${join(work, 'fresh2')}`, ...tls, '--checkpoint', aFile],
    code: 3,
    line: /a-file is not a mailferry checkpoint/,
    cleanup: () => expect(existsSync(join(work, 'fresh2'))).toBe(false),
  },
  // A script's unset "$CP": reset said 'no checkpoint at : nothing to do' (exit 0), show 'no checkpoint at ' (exit 3).
  { name: 'checkpoint reset of an empty PATH', args: ['checkpoint', 'reset', ''], code: 2, line: /PATH needs a file name, not an empty string/ },
  { name: 'checkpoint show of an empty --config', args: ['checkpoint', 'show', '--config', ''], code: 2, line: /--config needs a file name, not an empty string/ },
  { name: 'checkpoint show of an empty PATH', args: ['checkpoint', 'show', ''], code: 2, line: /PATH needs a file name, not an empty string/ },
  // A job file given where its checkpoint was meant: the line says how to get that.
  {
    name: 'checkpoint reset of a job file',
    args: ['checkpoint', 'reset', join(work, 'keep4.yml')],
    setup: () => writeFileSync(join(work, 'keep4.yml'), `source: ${srcUrl()}\ndest: maildir:md\n`),
    code: 3,
    line: /keep4\.yml is not a mailferry checkpoint \(a job file\? mailferry checkpoint reset -c .*keep4\.yml takes its checkpoint; nothing was changed\)$/,
    cleanup: () => expect(readFileSync(join(work, 'keep4.yml'), 'utf8')).toMatch(/^source: /),
  },
  { name: 'checkpoint show of a directory', args: ['checkpoint', 'show', work], code: 3, line: /is a directory, not a checkpoint/ },
  { name: '--dry-run --delete-source with an IMAP source', args: [...good(), '--dry-run', '--delete-source'], code: 2, line: /--delete-source works only with a POP3 source/ },
];

describe(`${cases.length} bad inputs: one line, the right exit code, nothing lost`, () => {
  let before: Map<string, string>;
  beforeAll(async () => {
    writeFileSync(aFile, 'not a maildir\n');
    mkdirSync(immutable);
    writeFileSync(join(work, 'broken.yaml'), 'source: imap://a@b\n  dest: : maildir:/x\n');
    writeFileSync(join(work, 'typo.yaml'), 'sorce: imap://a@b\n');
    const r = await runCli([...good(), '--json'], { env });
    expect(envelope(r).status, r.stderr).toBe(0);
    expect(envelope(r).result.copied).toBeGreaterThan(5);
    before = snapshot(md);
  });

  afterAll(() => {
    for (const d of [immutable, md]) execFileSync('chattr', ['-i', d]);
  });

  it('has at least 25 cases', () => expect(cases.length).toBeGreaterThanOrEqual(25));

  for (const c of cases) {
    it(c.name, async () => {
      c.setup?.();
      try {
        const r = await runCli(c.args, { env: { ...env, ...c.env }, cwd: c.cwd });
        expectOneLineError(r, c.code, c.line);
      } finally {
        c.cleanup?.();
      }
      expect(snapshot(md)).toEqual(before);
    });
  }

  it("a destination folder's cur/ that cannot be written is named (not the tmp/ file that could not be moved into it); the rerun copies", async () => {
    const dest = join(work, 'curro');
    for (const d of ['cur', 'new', 'tmp', '.Fixtures/cur', '.Fixtures/new', '.Fixtures/tmp']) mkdirSync(join(dest, d), { recursive: true });
    const args = ['copy', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'curro.journal')];
    execFileSync('chattr', ['+i', join(dest, '.Fixtures', 'cur')]);
    try {
      const r = await runCli(args, { env });
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`mailferry: error: cannot write ${dest}/.Fixtures/cur: permission denied (choose a directory you can write to)`);
    } finally {
      execFileSync('chattr', ['-i', join(dest, '.Fixtures', 'cur')]);
    }
    expect(readdirSync(join(dest, '.Fixtures', 'tmp'))).toEqual([]);
    expect(envelope(await runCli([...args, '--json'], { env })).status).toBe(0);
  });

  it('with --json the same errors are one envelope with the code', async () => {
    const r = await runCli([...good(), '--since', 'tomorrow', '--json'], { env });
    expect(envelope(r)).toMatchObject({ status: 2, error: { code: 'USAGE', message: expect.stringContaining("'tomorrow' is not a date") } });
    const w = await runCli([...good(), '--json'], { env: { ...env, MAILFERRY_SOURCE_PASSWORD: 'nope-wrong' } });
    expect(envelope(w)).toMatchObject({ status: 4, error: { code: 'AUTH_FAILED' } });
    expect(r.stderr + w.stderr).toBe('');
  });

  it('a password in a URL that does not parse is in no output: stderr, --json, --log-file', async () => {
    const log = join(work, 'url.log');
    const a = await runCli(['copy', srcUrl(), `imaps://bob:Sup3rSecretPW@${H} x`, '--json', '--log-file', log], { env });
    const b = await runCli(['copy', srcUrl(), `imaps://bob:Sup3rSecretPW@${H} x`, '--verbose', '--log-file', log], { env });
    expect(envelope(a).error?.message).toBe(`dest URL: cannot parse 'imaps://bob:***@${H} x'`);
    const all = a.stdout + a.stderr + b.stdout + b.stderr + readFileSync(log, 'utf8');
    expect(all).toContain('***');
    expect(all).not.toContain('Sup3rSecretPW');
  });

  it('a --max-runtime longer than a timer can hold (~24.8 days) is no limit, not an immediate stop', async () => {
    const r = await runCli([...good(), '--max-runtime', '700h', '--json'], { env });
    expect(envelope(r)).toMatchObject({ status: 0, result: { interrupted: false } });
    expect(r.stderr).toBe('');
  });

  it('a path that is not UTF-8 (a latin1 directory name typed in a C locale) is refused, not silently taken for another path (U+FFFD)', async () => {
    const into = join(work, 'lat');
    // The last argument, as the shell passes it: "maildir:…/lat\xe9n", one byte that is not UTF-8.
    const r = await runCli(['copy', srcUrl(), ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'latin1.journal')], {
      env,
      wrap: ['sh', '-c', `exec "$0" "$@" "$(printf 'maildir:${into}\\351n')"`],
    });
    expectOneLineError(r, 2, /an argument is not valid UTF-8 \(maildir:.*lat\?n\): it would name something else than what was typed/);
    expect(existsSync(`${into}\uFFFDn`)).toBe(false);
  });

  it('after all of it, a rerun of the good copy copies nothing and the Maildir is unchanged', async () => {
    const r = await runCli([...good(), '--json'], { env });
    expect(envelope(r)).toMatchObject({ status: 0, result: { copied: 0 } });
    expect(snapshot(md)).toEqual(before);
  });
});
