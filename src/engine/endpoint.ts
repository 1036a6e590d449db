/**
 * Endpoint URLs: imap://user@host[:port][/folder], imaps://…, pop3://…, pop3s://…, maildir:PATH.
 * Parsing only; connecting is the drivers' business.
 */
import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { lookup } from 'node:dns/promises';
import { MailferryError } from '../errors.js';
import { expandHome } from '../checkpoint/path.js';

export type TlsMode = 'implicit' | 'starttls' | 'none';
export type Role = 'source' | 'dest';

export interface NetEndpoint {
  kind: 'imap' | 'pop3';
  scheme: string;
  host: string;
  port: number;
  user: string;
  tls: TlsMode;
  /** Folder named in the URL path ('/'-separated segments), if any. */
  folder?: string[];
}

export interface MaildirEndpoint {
  kind: 'maildir';
  scheme: 'maildir';
  path: string;
}

export type Endpoint = NetEndpoint | MaildirEndpoint;

const SCHEMES: Record<string, { kind: 'imap' | 'pop3'; port: number; tls: TlsMode }> = {
  imap: { kind: 'imap', port: 143, tls: 'starttls' },
  imaps: { kind: 'imap', port: 993, tls: 'implicit' },
  pop3: { kind: 'pop3', port: 110, tls: 'starttls' },
  pop3s: { kind: 'pop3', port: 995, tls: 'implicit' },
};

export function passwordEnvVar(role: Role): string {
  return role === 'source' ? 'MAILFERRY_SOURCE_PASSWORD' : 'MAILFERRY_DEST_PASSWORD';
}

function bad(role: Role, text: string, hint: string): MailferryError {
  return new MailferryError('BAD_URL', `${role} URL: ${text}`, { hint });
}

const EXAMPLES = 'e.g. imaps://alice@mail.example.org, pop3s://alice@pop.example.org or maildir:/srv/backup/alice';

/**
 * The text as it may be shown: a password in it (`user:secret@host`, with or without a scheme) is
 * masked, since errors that quote a URL go to the terminal, --json and --log-file.
 */
export function maskUserinfo(text: string): string {
  const scheme = /^[a-z0-9+.-]+:\/\//i.exec(text)?.[0] ?? '';
  const rest = text.slice(scheme.length);
  // Up to the last '@' (a password may hold '@' or '/'): masking too much is harmless here.
  const at = rest.lastIndexOf('@');
  const colon = rest.indexOf(':');
  if (at < 0 || colon < 0 || colon > at) return text;
  return scheme + rest.slice(0, colon) + ':***' + rest.slice(at);
}

/** The port as written after the host of `rest` (what follows `scheme://`), if any. */
function portOf(rest: string): string | undefined {
  const authority = rest.split(/[/?#]/, 1)[0]!;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const after = hostPort.startsWith('[') ? hostPort.slice(hostPort.indexOf(']') + 1) : hostPort;
  const colon = after.lastIndexOf(':');
  return colon < 0 ? undefined : after.slice(colon + 1);
}

export function parseEndpoint(raw: string, role: Role, tlsOverride?: TlsMode): Endpoint {
  const text = raw.trim();
  const shown = maskUserinfo(text);
  if (/^maildir:/i.test(text)) {
    let p = text.slice('maildir:'.length);
    // 'maildir: /srv/backup' is a slip, not the relative path ' /srv/backup' (a directory named ' ' made here).
    if (/^\s/.test(p)) throw bad(role, `'${shown}' has a space after 'maildir:'`, `write maildir:${p.trimStart()}; for a directory whose name begins with a space, write maildir:./ name`);
    if (p.startsWith('//')) {
      // maildir:///srv/x is /srv/x; maildir://srv/x would be the relative srv/x, surely not meant.
      p = p.slice(2);
      if (!p.startsWith('/') && !p.startsWith('~')) {
        const q = maskUserinfo(p); // 'alice:secret@host/x' is a URL's userinfo: masked in the hint too
        throw bad(role, `'${shown}' names no absolute path after maildir://`, `write maildir:/${q} (or maildir:///${q}) for /${q}, maildir:${q} for a path relative to here`);
      }
    }
    if (!p) throw bad(role, 'maildir: needs a path', 'e.g. maildir:/srv/backup/alice');
    return { kind: 'maildir', scheme: 'maildir', path: resolve(expandHome(p)) };
  }
  const m = /^([a-z0-9+.-]+):\/\//i.exec(text);
  if (!m) {
    if (text.startsWith('/') || text.startsWith('.')) {
      throw bad(role, `'${shown}' is not a URL`, `for a local Maildir write maildir:${shown}`);
    }
    throw bad(role, `'${shown}' is not a URL`, EXAMPLES);
  }
  const scheme = m[1].toLowerCase();
  const def = SCHEMES[scheme];
  if (!def) throw bad(role, `unknown scheme '${scheme}:'`, `use imap, imaps, pop3, pop3s or maildir (${EXAMPLES})`);
  // The port, said as what is wrong with it (URL says only that the whole does not parse).
  const written = portOf(text.slice(m[0].length));
  if (written !== undefined && written !== '') {
    if (!/^-?\d+$/.test(written)) throw bad(role, `port '${written}' is not a number`, `e.g. ${scheme}://alice@mail.example.org:${def.port}`);
    if (Number(written) < 1 || Number(written) > 65535) throw bad(role, `port ${written} is out of range (1 to 65535)`, `e.g. ${scheme}://alice@mail.example.org:${def.port}, or leave it out for ${def.port}`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad(role, `cannot parse '${shown}'`, EXAMPLES);
  }
  if (url.password) {
    throw new MailferryError('PASSWORD_IN_URL', `${role} URL contains a password, which every user of this machine can read in the process list`, {
      hint: `remove it from the URL and set ${passwordEnvVar(role)} or use --${role}-password-file`,
    });
  }
  // A '%' must start an escape (%25 is '%'): WHATWG URL parsing keeps a lone one as it is.
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw bad(role, `'${shown}' has a '%' that starts no %XX escape`, "write a '%' in a user or folder name as %25, e.g. imaps://alice@host/Sales%25");
    }
  };
  const user = decode(url.username);
  if (!user) throw bad(role, 'no user name', `put it before the host: ${scheme}://alice@${url.hostname || 'host'}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw bad(role, 'no host name', EXAMPLES);
  let port = def.port;
  if (url.port) {
    port = Number(url.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(role, `bad port '${url.port}'`, 'a port is 1-65535');
  }
  // Also a bare '?' or '#' (an empty query or fragment, which URL drops): "…/What?" is no folder 'What'.
  if (url.search || url.hash || /[?#]/.test(text)) {
    throw bad(role, 'query or fragment not understood', "name a folder as the URL path: imaps://alice@host/Archive/2024; a '?' or '#' in a folder name is %3F or %23");
  }
  const pathText = url.pathname.replace(/^\/+/, '').replace(/\/+$/, '');
  let folder: string[] | undefined;
  if (pathText) {
    if (def.kind === 'pop3') throw bad(role, 'POP3 has no folders', `drop '/${decode(pathText)}' from the URL`);
    folder = pathText.split('/').map(decode).filter((s) => s.length > 0);
  }
  return { kind: def.kind, scheme, host, port, user, tls: tlsOverride ?? def.tls, folder };
}

/**
 * A display form without secrets (there are none in a parsed endpoint) for logs and keys. The host
 * in lower case (URL keeps an imap: host as written): `MAIL.example.org` is the same server, and
 * so the same job and checkpoint.
 */
export function describeEndpoint(e: Endpoint): string {
  if (e.kind === 'maildir') return `maildir:${e.path}`;
  const f = e.folder ? '/' + e.folder.map(encodeURIComponent).join('/') : '';
  const host = e.host.toLowerCase();
  return `${e.scheme}://${encodeURIComponent(e.user)}@${host.includes(':') ? `[${host}]` : host}:${e.port}${f}`;
}

/** The real path of `p`: symbolic links resolved in the part that exists, the rest as written. */
export function realPathOf(p: string): string {
  const rest: string[] = [];
  for (let cur = resolve(p); ; ) {
    try {
      return join(realpathSync.native(cur), ...rest.reverse());
    } catch {
      const up = dirname(cur);
      if (up === cur) return resolve(p);
      rest.push(basename(cur));
      cur = up;
    }
  }
}

/**
 * A Maildir's real path (trailing slash, `..` and symbolic links resolved, also in the part of
 * it that exists when the rest does not yet); an IMAP account (user, host in lower case, port)
 * with the folder prefix of the URL.
 */
export function destinationKey(e: Endpoint, host = e.kind === 'maildir' ? '' : e.host.toLowerCase(), port = e.kind === 'maildir' ? 0 : e.port): string {
  if (e.kind === 'maildir') return `maildir:${realPathOf(e.path)}`;
  // INBOX is INBOX in any case (RFC 3501): /inbox/x and /INBOX/x are one destination.
  const folder = (e.folder ?? []).map((s, i) => (i === 0 && s.toUpperCase() === 'INBOX' ? 'INBOX' : s));
  return `${e.kind}://${e.user.toLowerCase()}@${host}:${port}/${folder.join('/')}`;
}

/** IMAP's standard ports: one server's plain and TLS doors. */
const SAME_SERVER_PORT: Record<number, number> = { 993: 143 };

/**
 * An address as one spelling: IPv6 in its canonical form (lower case, zeros compressed, as URLs
 * write it), and an IPv6 address that names an IPv4 host as that IPv4 address: `::ffff:a.b.c.d`
 * (IPv4-mapped, in any spelling) is a.b.c.d, and `::1`, this host's loopback, is 127.0.0.1
 * (`[::1]` and `localhost` are one server).
 */
function oneSpelling(a: { address: string; family: number }): { address: string; family: number } {
  if (a.family !== 6) return a;
  let addr: string;
  try {
    addr = new URL(`http://[${a.address}]/`).hostname.slice(1, -1);
  } catch {
    return a; // a zone index (fe80::1%eth0) or other form URLs do not take: as resolved
  }
  if (addr === '::1') return { address: '127.0.0.1', family: 4 };
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(addr);
  if (!mapped) return { address: addr, family: 6 };
  const [hi, lo] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
  return { address: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, family: 4 };
}

/**
 * What two runs writing into the same place share, however the destination was spelled: for a
 * Maildir its destinationKey; for IMAP the account on the server's address and port (`localhost`
 * and `127.0.0.1` are one server, so are `[::1]` and `[::ffff:127.0.0.1]`; 143 and 993 are one server's two ports), with the URL's folder
 * prefix (INBOX alone is none). Other ports stay apart: two servers can share an address, and a false overlap would
 * stop a run.
 */
export async function destinationLockKey(e: Endpoint): Promise<string> {
  if (e.kind === 'maildir') return destinationKey(e);
  const port = SAME_SERVER_PORT[e.port] ?? e.port;
  let host = e.host.toLowerCase();
  try {
    const all = (await lookup(e.host, { all: true })).map(oneSpelling);
    // The lowest address, IPv4 first: the same for every spelling that resolves to the same set.
    const v4 = all.filter((a) => a.family === 4).map((a) => a.address).sort();
    host = (v4[0] ?? all.map((a) => a.address).sort()[0]) ?? host;
  } catch {
    // unresolvable: the connection will say so; the name as written
  }
  // INBOX as the prefix writes the INBOX a run without one writes too (a POP3 source's mail goes
  // there either way): one destination.
  const inboxOnly = e.folder?.length === 1 && e.folder[0]!.toUpperCase() === 'INBOX';
  return destinationKey(inboxOnly ? { ...e, folder: [] } : e, host, port);
}

/** An account as one spelling (user, the server's address), whatever the port: a POP3 and an IMAP URL can name one mailbox. */
async function accountKey(e: NetEndpoint): Promise<string> {
  return destinationLockKey({ ...e, kind: 'imap', port: 0, folder: [] });
}

/** INBOX in any case (RFC 3501), other names as written. */
const folderName = (f: string[] | undefined): string[] => (f ?? []).map((s, i) => (i === 0 && s.toUpperCase() === 'INBOX' ? 'INBOX' : s));

/**
 * An IMAP account copied into itself: the destination's folder prefix, whose folders the plan
 * then leaves out (else each run copies the last run's copy one level deeper: Backup/Backup/…);
 * without a prefix every folder would be copied onto itself, which is refused, and so is a
 * source folder that is the prefix or lies inside it (nothing would be copied). A POP3 mailbox
 * copied into the INBOX of its own account is refused too: every message is there already, and
 * --delete-source would delete each one, the only copy.
 */
export async function selfPrefix(src: Endpoint, dst: Endpoint): Promise<string[] | undefined> {
  if (src.kind === 'maildir' || dst.kind !== 'imap') return undefined;
  if (src.kind === 'pop3') {
    const into = folderName(dst.folder);
    if (into.length > 1 || (into.length === 1 && into[0] !== 'INBOX')) return undefined;
    if ((await accountKey(src)) !== (await accountKey(dst))) return undefined;
    throw new MailferryError('BAD_CONFIG', `the POP3 source and the IMAP destination are the same account (${src.user}@${src.host}): its INBOX would be copied onto itself`, {
      hint: 'copy into a folder of it (imap://user@host/Migrated) or into another account',
    });
  }
  const [a, b] = await Promise.all([destinationLockKey({ ...src, folder: [] }), destinationLockKey({ ...dst, folder: [] })]);
  if (a !== b) return undefined;
  if (!dst.folder?.length) {
    throw new MailferryError('BAD_CONFIG', `the source and the destination are the same IMAP account (${src.user}@${src.host}): every folder would be copied onto itself`, {
      hint: 'copy into a folder of it (imap://user@host/Backup) or into another account',
    });
  }
  const [from, into] = [folderName(src.folder), folderName(dst.folder)];
  if (from.length >= into.length && into.every((s, i) => s === from[i])) {
    throw new MailferryError('BAD_CONFIG', `the source folder ${from.join('/')} is the destination folder ${into.join('/')} of the same IMAP account, or inside it: it would be copied into itself`, {
      hint: 'copy into another folder (imap://user@host/Backup) or into another account',
    });
  }
  return dst.folder;
}

/** A Maildir copied into itself, or into a directory inside it (or the other way round), would nest copies run after run. */
export function checkNotNested(src: Endpoint, dst: Endpoint): void {
  if (src.kind !== 'maildir' || dst.kind !== 'maildir') return;
  const a = destinationKey(src).slice('maildir:'.length);
  const b = destinationKey(dst).slice('maildir:'.length);
  const inside = (x: string, y: string) => x === y || x.startsWith(y.endsWith(sep) ? y : y + sep);
  if (inside(a, b) || inside(b, a)) {
    throw new MailferryError('BAD_CONFIG', a === b ? `the source and the destination are the same Maildir (${a})` : `the destination Maildir ${b} and the source ${a} lie one inside the other`, {
      hint: 'copy into a directory outside the source Maildir',
    });
  }
}

