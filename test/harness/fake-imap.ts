/**
 * A scriptable fake IMAP server for what Dovecot will not do on demand: hostile folder names,
 * throttling answers, absurd or endless literals, FETCHes that never end, a huge message, NO to
 * an APPEND, an account quota (NO [OVERQUOTA], MULTIAPPEND stored or refused whole), a message whose body is left out of an answer that ends OK. It speaks just enough IMAP4rev1 for imapflow (LOGIN, LIST, LSUB, STATUS, SELECT /
 * EXAMINE, UID SEARCH, UID FETCH with partial BODY[], APPEND, CREATE, NOOP, LOGOUT) over plain TCP on
 * 127.0.0.1, and every command can be intercepted by a test hook.
 */
import net from 'node:net';
import { decodeMUtf7 } from './mutf7.js';

export interface FakeImapMessage {
  uid: number;
  body: Buffer;
  flags?: string[];
  internalDate?: Date;
  /** RFC822.SIZE to report (default: body length): a server that lies. */
  claimedSize?: number;
  /** Body FETCH answers a literal of this declared size instead (an absurd literal). */
  literalSize?: number;
  /** Body FETCH sends this many bytes of the literal, then nothing more (a fetch that never ends). */
  stallAfter?: number;
  /** Body FETCH answers this message over and over, never ending the command. */
  endless?: boolean;
  /**
   * Body FETCH leaves the body out and still ends OK, though the message stays in the folder:
   * 'row' answers without BODY[], 'nil' with BODY[] NIL, 'omit' not at all.
   */
  bodyless?: 'row' | 'nil' | 'omit';
  /** A listing's metadata FETCH (RFC822.SIZE, header fields) leaves it out, ending OK; UID SEARCH finds it. */
  unlisted?: boolean;
}

export interface FakeImapMailbox {
  /** The name as it goes on the wire (already modified UTF-7 if needed). */
  name: string;
  delimiter?: string;
  flags?: string[];
  uidValidity?: number;
  messages: FakeImapMessage[];
}

export interface FakeImapOptions {
  user?: string;
  pass?: string;
  mailboxes: FakeImapMailbox[];
  /** Extra capabilities (e.g. 'APPENDLIMIT=1000'). */
  capabilities?: string[];
  /** A personal namespace (NAMESPACE): "INBOX." and "." as Courier and cPanel servers have it. */
  namespace?: { prefix: string; delimiter: string };
  /** A server without UIDPLUS: not offered, and APPEND answers no APPENDUID. */
  noUidplus?: boolean;
  /** CREATE makes the folder and APPEND stores the message in it (listed and fetched after). */
  store?: boolean;
  /**
   * What a SELECT says the folders keep (PERMANENTFLAGS), as Exchange says no `\*` (no keywords);
   * undefined: the response code is left out (every flag may be set). An EXAMINE says `()`.
   */
  permanentFlags?: string[];
  /**
   * The account's quota in bytes, as Dovecot's quota plugin keeps it: an APPEND whose messages
   * would take what was appended past it is refused whole with NO [OVERQUOTA] (a MULTIAPPEND
   * too: one transaction). Changed at run time to raise it; undefined: no quota.
   */
  quota?: number;
  /**
   * Intercept a command: return true when the hook answered it. `name` is upper-case
   * ("UID FETCH" for UID commands), `args` the rest of the command line as text.
   */
  hook?: (s: FakeImapSession, tag: string, name: string, args: string) => boolean | Promise<boolean>;
}

type Part = string | Buffer;

/** A mailbox name on the wire: quoted, or a literal when it holds CR, LF, NUL or 8-bit bytes. */
function quote(name: string): Buffer {
  if (/[\r\n\0\x80-\xff]/.test(name)) return Buffer.from(`{${Buffer.byteLength(name, 'latin1')}}\r\n${name}`, 'latin1');
  return Buffer.from(`"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`, 'latin1');
}

function imapDate(d: Date): string {
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()];
  const p = (n: number) => String(n).padStart(2, '0');
  return `"${p(d.getUTCDate())}-${mon}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000"`;
}

function parseSet(set: string, max: number): (n: number) => boolean {
  const ranges = set.split(',').map((r) => {
    const [a, b] = r.split(':');
    const lo = a === '*' ? max : Number(a);
    const hi = b === undefined ? lo : b === '*' ? max : Number(b);
    return [Math.min(lo, hi), Math.max(lo, hi)] as const;
  });
  return (n) => ranges.some(([lo, hi]) => n >= lo && n <= hi);
}

/** Split a command's text into tokens: atoms, "quoted" strings, (lists) kept raw; literals given apart. */
function tokens(parts: Part[]): string[] {
  const out: string[] = [];
  for (const part of parts) {
    if (Buffer.isBuffer(part)) {
      out.push(part.toString('latin1'));
      continue;
    }
    let i = 0;
    const s = part;
    while (i < s.length) {
      const c = s[i];
      if (c === ' ') i++;
      else if (c === '"') {
        let v = '';
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\') i++;
          v += s[i++];
        }
        i++;
        out.push(v);
      } else if (c === '(') {
        let depth = 0;
        const start = i;
        do {
          if (s[i] === '(') depth++;
          else if (s[i] === ')') depth--;
          i++;
        } while (i < s.length && depth > 0);
        out.push(s.slice(start, i));
      } else {
        const start = i;
        while (i < s.length && s[i] !== ' ') i++;
        out.push(s.slice(start, i));
      }
    }
  }
  return out;
}

export class FakeImapServer {
  readonly host = '127.0.0.1';
  port = 0;
  /** Every command line (without literals), across sessions. */
  readonly commands: string[] = [];
  readonly sessions: FakeImapSession[] = [];
  /** APPENDs accepted: mailbox and bytes. */
  readonly appended: Array<{ mailbox: string; body: Buffer; flags: string }> = [];
  /** The last literal a client sent (an APPEND's message, for hooks to look at). */
  lastLiteral?: Buffer;
  /** APPENDs refused over `quota`: the command's index in `commands`, and how many messages it carried. */
  readonly quotaRefusals: Array<{ at: number; messages: number }> = [];
  private readonly server: net.Server;

  private constructor(readonly opts: FakeImapOptions) {
    this.server = net.createServer((socket) => {
      socket.setNoDelay(true);
      const s = new FakeImapSession(this, socket);
      this.sessions.push(s);
      s.start();
    });
  }

  static async start(opts: FakeImapOptions): Promise<FakeImapServer> {
    const srv = new FakeImapServer(opts);
    await new Promise<void>((res) => srv.server.listen(0, '127.0.0.1', res));
    srv.port = (srv.server.address() as net.AddressInfo).port;
    return srv;
  }

  /** The mailbox a client names: as listed, or in modified UTF-7 (as imapflow sends names). */
  mailbox(name: string): FakeImapMailbox | undefined {
    return this.opts.mailboxes.find((m) => m.name === name || m.name === decodeMUtf7(name) || (m.name.toUpperCase() === 'INBOX' && name.toUpperCase() === 'INBOX'));
  }

  capabilities(): string {
    return ['IMAP4rev1', ...(this.opts.noUidplus ? [] : ['UIDPLUS']), ...(this.opts.namespace ? ['NAMESPACE'] : []), ...(this.opts.capabilities ?? [])].join(' ');
  }

  async stop(): Promise<void> {
    for (const s of this.sessions) s.socket.destroy();
    await new Promise<void>((res) => this.server.close(() => res()));
  }
}

export class FakeImapSession {
  selected?: FakeImapMailbox;
  private buf = Buffer.alloc(0);
  private parts: Part[] = [];
  private literalLeft = -1;
  private busy = Promise.resolve();
  closed = false;

  constructor(
    readonly server: FakeImapServer,
    readonly socket: net.Socket,
  ) {}

  start(): void {
    this.socket.on('error', () => (this.closed = true));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.pump();
    });
    this.send(`* OK [CAPABILITY ${this.server.capabilities()}] fake IMAP ready\r\n`);
  }

  send(data: string | Buffer): boolean {
    if (this.closed) return false;
    return this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Write, waiting for the socket to drain (for large answers). */
  async sendAll(data: Buffer): Promise<void> {
    if (this.send(data) || this.closed) return;
    await new Promise<void>((res) => {
      const done = () => (this.socket.off('drain', done), this.socket.off('close', done), res());
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  private pump(): void {
    for (;;) {
      if (this.literalLeft >= 0) {
        if (this.buf.length < this.literalLeft) return;
        this.parts.push(this.buf.subarray(0, this.literalLeft));
        this.buf = this.buf.subarray(this.literalLeft);
        this.literalLeft = -1;
        continue;
      }
      const nl = this.buf.indexOf('\r\n');
      if (nl < 0) return;
      const line = this.buf.subarray(0, nl).toString('latin1');
      this.buf = this.buf.subarray(nl + 2);
      const lit = /\{(\d+)(\+?)\}$/.exec(line);
      if (lit) {
        this.parts.push(line.slice(0, lit.index));
        this.literalLeft = Number(lit[1]);
        if (!lit[2]) this.send('+ go ahead\r\n');
        continue;
      }
      this.parts.push(line);
      const parts = this.parts;
      this.parts = [];
      this.busy = this.busy.then(() => this.command(parts)).catch(() => void this.socket.destroy());
    }
  }

  private async command(parts: Part[]): Promise<void> {
    const toks = tokens(parts);
    const literals = parts.filter((p): p is Buffer => Buffer.isBuffer(p));
    if (literals.length > 0) this.server.lastLiteral = literals[literals.length - 1];
    const text = parts.filter((p) => typeof p === 'string').join(' ');
    const cmdAt = this.server.commands.push(text) - 1;
    const tag = toks[0] ?? '*';
    let name = (toks[1] ?? '').toUpperCase();
    let rest = toks.slice(2);
    if (name === 'UID') {
      name = `UID ${(toks[2] ?? '').toUpperCase()}`;
      rest = toks.slice(3);
    }
    const argText = text.slice(text.indexOf(toks[1] ?? '') + (toks[1] ?? '').length).trim();
    if (this.server.opts.hook && (await this.server.opts.hook(this, tag, name, name.startsWith('UID ') ? argText.replace(/^\S+\s*/, '') : argText))) return;
    switch (name) {
      case 'CAPABILITY':
        this.send(`* CAPABILITY ${this.server.capabilities()}\r\n${tag} OK done\r\n`);
        return;
      case 'LOGIN': {
        const ok = rest[0] === (this.server.opts.user ?? 'u') && rest[1] === (this.server.opts.pass ?? 'pass');
        this.send(ok ? `${tag} OK [CAPABILITY ${this.server.capabilities()}] logged in\r\n` : `${tag} NO [AUTHENTICATIONFAILED] bad\r\n`);
        return;
      }
      case 'NOOP':
      case 'CHECK':
        this.send(`${tag} OK done\r\n`);
        return;
      case 'LOGOUT':
        this.send(`* BYE bye\r\n${tag} OK done\r\n`);
        this.socket.end();
        return;
      case 'LIST': {
        if (rest[1] === '') {
          // Hierarchy delimiter discovery (LIST "" ""): no namespace prefix.
          const d = this.server.opts.mailboxes.find((m) => m.delimiter !== undefined)?.delimiter ?? '/';
          this.send(`* LIST (\\Noselect) ${d === '' ? 'NIL' : `"${d}"`} ""\r\n${tag} OK LIST done\r\n`);
          return;
        }
        for (const m of this.server.opts.mailboxes) {
          const flags = `(${(m.flags ?? ['\\HasNoChildren']).join(' ')})`;
          const d = m.delimiter === undefined ? '"/"' : m.delimiter === '' ? 'NIL' : `"${m.delimiter}"`;
          this.send(Buffer.concat([Buffer.from(`* LIST ${flags} ${d} `, 'latin1'), quote(m.name), Buffer.from('\r\n')]));
        }
        this.send(`${tag} OK LIST done\r\n`);
        return;
      }
      case 'LSUB':
        this.send(`${tag} OK LSUB done\r\n`);
        return;
      case 'STATUS': {
        const m = this.server.mailbox(rest[0] ?? '');
        if (!m) return void this.send(`${tag} NO [NONEXISTENT] no such mailbox\r\n`);
        const next = Math.max(0, ...m.messages.map((x) => x.uid)) + 1;
        this.send(Buffer.concat([Buffer.from('* STATUS '), quote(m.name), Buffer.from(` (MESSAGES ${m.messages.length} UIDNEXT ${next} UIDVALIDITY ${m.uidValidity ?? 1})\r\n${tag} OK STATUS done\r\n`)]));
        return;
      }
      case 'SELECT':
      case 'EXAMINE': {
        const m = this.server.mailbox(rest[0] ?? '');
        if (!m) return void this.send(`${tag} NO [NONEXISTENT] no such mailbox\r\n`);
        this.selected = m;
        const next = Math.max(0, ...m.messages.map((x) => x.uid)) + 1;
        this.send(
          `* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)\r\n* ${m.messages.length} EXISTS\r\n* 0 RECENT\r\n` +
            (this.server.opts.permanentFlags ? `* OK [PERMANENTFLAGS (${name === 'EXAMINE' ? '' : this.server.opts.permanentFlags.join(' ')})] ok\r\n` : '') +
            `* OK [UIDVALIDITY ${m.uidValidity ?? 1}] ok\r\n* OK [UIDNEXT ${next}] ok\r\n${tag} OK [${name === 'EXAMINE' ? 'READ-ONLY' : 'READ-WRITE'}] done\r\n`,
        );
        return;
      }
      case 'CLOSE':
      case 'UNSELECT':
        this.selected = undefined;
        this.send(`${tag} OK done\r\n`);
        return;
      case 'NAMESPACE': {
        const ns = this.server.opts.namespace;
        this.send(`* NAMESPACE ${ns ? `(("${ns.prefix}" "${ns.delimiter}"))` : 'NIL'} NIL NIL\r\n${tag} OK done\r\n`);
        return;
      }
      case 'CREATE': {
        const box = rest[0] ?? '';
        if (this.server.opts.store && !this.server.mailbox(box)) {
          this.server.opts.mailboxes.push({ name: box, delimiter: this.server.opts.namespace?.delimiter ?? '/', messages: [] });
        }
        this.send(`${tag} OK created\r\n`);
        return;
      }
      case 'APPEND': {
        // One message, or several (MULTIAPPEND, RFC 3502): each message is a literal; the mailbox
        // name is one too when the text before the first literal ends at APPEND.
        const boxLiteral = typeof parts[0] === 'string' && /APPEND\s*$/i.test(parts[0]);
        const bodies = parts.filter((p, i): p is Buffer => Buffer.isBuffer(p) && !(boxLiteral && i === 1));
        if (bodies.length === 0) bodies.push(Buffer.alloc(0));
        const quota = this.server.opts.quota;
        if (quota !== undefined) {
          const used = this.server.appended.reduce((a, m) => a + m.body.length, 0);
          if (used + bodies.reduce((a, b) => a + b.length, 0) > quota) {
            this.server.quotaRefusals.push({ at: cmdAt, messages: bodies.length });
            this.send(`${tag} NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\r\n`);
            return;
          }
        }
        const into = this.server.opts.store ? this.server.mailbox(rest[0] ?? '') : undefined;
        const uids: number[] = [];
        for (const stored of bodies) {
          this.server.appended.push({ mailbox: rest[0] ?? '', body: stored, flags: rest.find((t) => t.startsWith('(')) ?? '' });
          let uid = this.server.appended.length;
          if (into) {
            uid = Math.max(0, ...into.messages.map((x) => x.uid)) + 1;
            into.messages.push({ uid, body: Buffer.from(stored) });
          }
          uids.push(uid);
        }
        this.send(this.server.opts.noUidplus ? `${tag} OK appended\r\n` : `${tag} OK [APPENDUID ${into?.uidValidity ?? 1} ${uids.join(',')}] appended\r\n`);
        return;
      }
      case 'UID SEARCH': {
        // Just what a listing asks: UID SEARCH [UID set] (ALL when no set).
        const m = this.selected;
        if (!m) return void this.send(`${tag} BAD no mailbox selected\r\n`);
        const maxUid = Math.max(0, ...m.messages.map((x) => x.uid));
        const at = rest.findIndex((t) => t.toUpperCase() === 'UID');
        const inSet = at < 0 ? () => true : parseSet(rest[at + 1] ?? '', maxUid);
        const uids = m.messages.map((x) => x.uid).filter((u) => inSet(u));
        this.send(`* SEARCH${uids.map((u) => ` ${u}`).join('')}\r\n${tag} OK SEARCH done\r\n`);
        return;
      }
      case 'FETCH':
      case 'UID FETCH':
        await this.fetch(tag, name === 'UID FETCH', rest[0] ?? '', rest.slice(1).join(' '));
        return;
      default:
        this.send(`${tag} BAD unknown command ${name}\r\n`);
    }
  }

  private async fetch(tag: string, byUid: boolean, set: string, items: string): Promise<void> {
    const m = this.selected;
    if (!m) return void this.send(`${tag} BAD no mailbox selected\r\n`);
    const maxUid = Math.max(0, ...m.messages.map((x) => x.uid));
    const inSet = parseSet(set, byUid ? maxUid : m.messages.length);
    const up = items.toUpperCase();
    const header = /BODY\.PEEK\[HEADER\.FIELDS \(([^)]*)\)\]/i.exec(items);
    const body = /BODY(?:\.PEEK)?\[\](?:<(\d+)\.(\d+)>)?/i.exec(items);
    for (let i = 0; i < m.messages.length; i++) {
      const msg = m.messages[i];
      if (!inSet(byUid ? msg.uid : i + 1)) continue;
      const attrs: Part[] = [`UID ${msg.uid}`];
      if (/\bFLAGS\b/.test(up)) attrs.push(`FLAGS (${(msg.flags ?? []).join(' ')})`);
      if (up.includes('INTERNALDATE')) attrs.push(`INTERNALDATE ${imapDate(msg.internalDate ?? new Date(Date.UTC(2020, 0, 1)))}`);
      if (up.includes('RFC822.SIZE')) attrs.push(`RFC822.SIZE ${msg.claimedSize ?? msg.body.length}`);
      if (header) {
        const end = msg.body.indexOf('\r\n\r\n');
        const head = msg.body.subarray(0, end < 0 ? msg.body.length : end + 2).toString('latin1');
        const wanted = header[1].toUpperCase().split(/\s+/);
        const lines = head.split(/\r\n(?![ \t])/).filter((l) => wanted.includes(l.slice(0, l.indexOf(':')).toUpperCase()));
        const out = Buffer.from(lines.map((l) => l + '\r\n').join('') + '\r\n', 'latin1');
        attrs.push(Buffer.concat([Buffer.from(`BODY[HEADER.FIELDS (${header[1]})] {${out.length}}\r\n`), out]));
      }
      if (body && msg.bodyless === 'omit') continue;
      if (!body && msg.unlisted && (header || up.includes('RFC822.SIZE'))) continue;
      if (body && msg.bodyless === 'nil') attrs.push('BODY[] NIL');
      if (body && !msg.bodyless) {
        const start = body[1] === undefined ? 0 : Number(body[1]);
        const slice = body[1] === undefined ? msg.body : msg.body.subarray(start, start + Number(body[2]));
        const label = body[1] === undefined ? 'BODY[]' : `BODY[]<${start}>`;
        if (msg.literalSize !== undefined || msg.stallAfter !== undefined) {
          // Declare a literal and send only part of it (or nothing more at all): the fetch never ends.
          const declared = msg.literalSize ?? slice.length;
          this.send(`* ${i + 1} FETCH (UID ${msg.uid} ${label} {${declared}}\r\n`);
          await this.sendAll(slice.subarray(0, msg.stallAfter ?? 0));
          return; // never finishes the command
        }
        attrs.push(Buffer.concat([Buffer.from(`${label} {${slice.length}}\r\n`), slice]));
        if (msg.endless) {
          // The same answer, forever (until the client goes away).
          const one = Buffer.concat([Buffer.from(`* ${i + 1} FETCH (`), ...join(attrs), Buffer.from(')\r\n')]);
          while (!this.closed) await this.sendAll(one);
          return;
        }
      }
      await this.sendAll(Buffer.concat([Buffer.from(`* ${i + 1} FETCH (`), ...join(attrs), Buffer.from(')\r\n')]));
    }
    this.send(`${tag} OK FETCH done\r\n`);
  }
}

function join(attrs: Part[]): Buffer[] {
  const out: Buffer[] = [];
  attrs.forEach((a, i) => {
    if (i > 0) out.push(Buffer.from(' '));
    out.push(Buffer.isBuffer(a) ? a : Buffer.from(a, 'latin1'));
  });
  return out;
}
