import { createRequire } from 'node:module';

/**
 * flat(s): the same string, stored as one piece. A string built by concatenation is a tree of
 * pieces in V8 (and a slice keeps its whole parent alive); a Message-ID built that way costs
 * ~320 bytes where its flat form costs ~90. Strings kept for the whole run (identities, keys in
 * the checkpoint state, the destination index) go through here. Reading a character makes V8
 * flatten the tree in place; the value is unchanged either way.
 */
export function flat(s: string): string {
  if (s.length > 0) s.charCodeAt(0);
  return s;
}

const lists = new Map<string, readonly string[]>();
/** Distinct lists kept; past that, lists are no longer shared (a server can send any keywords). */
const MAX_SHARED_LISTS = 4096;

/**
 * shared(items): the same list of strings, one frozen copy per distinct list. A folder's refs
 * mostly carry one of a few flag sets ([], [\Seen], …): shared, a ref holds a pointer instead of
 * an array and a string per flag (~80 bytes per message listed). Frozen, so no holder can change
 * it for the others.
 */
export function shared(items: Iterable<string>): string[] {
  const list = [...items];
  const key = JSON.stringify(list);
  const hit = lists.get(key);
  if (hit) return hit as string[];
  const own = Object.freeze(list.map(flat));
  if (lists.size < MAX_SHARED_LISTS) lists.set(key, own);
  return own as string[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * headerText(s): a header value kept as its bytes (one character per byte, as Message-IDs and
 * identities are, so both ends compare them alike) for display: read as UTF-8 where the bytes are
 * valid UTF-8 (`<grüße@x>` instead of `<grÃ¼Ã\x9fe@x>`), else as they are.
 */
export function headerText(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\x80-\xff]/.test(s) || /[^\x00-\xff]/.test(s)) return s;
  try {
    return utf8.decode(Buffer.from(s, 'latin1'));
  } catch {
    return s;
  }
}

/** JSON.stringify's replacer for what mailferry prints: Message-IDs and identities as headerText. */
export function shownHeaders(key: string, value: unknown): unknown {
  return typeof value === 'string' && (key === 'messageId' || key === 'identity') ? headerText(value) : value;
}

/**
 * printable(s): text from a server (folder names, error responses) made safe for a terminal. Control
 * characters (C0 but tab, DEL, C1) are shown as \xNN: an ESC from a hostile server cannot move
 * the cursor, retitle the window or clear the screen, and a newline cannot forge a line.
 */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

/** "1 message", "2 messages": a count with its noun (an English plural by "s"). */
export function counted(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * Terminal columns of a string: the `string-width` package (an East Asian wide character or an
 * emoji is two, a combining mark none), what cli-progress and oclif measure with; loaded when a
 * table or a bar is drawn.
 */
let measureColumns: ((s: string) => number) | undefined;
const stringWidth = () => (measureColumns ??= createRequire(import.meta.url)('string-width') as (s: string) => number);

/** Columns `s` takes on a terminal (for tables and bars: padding by UTF-16 units misaligns). */
export function displayWidth(s: string): number {
  return stringWidth()(s);
}

/** `s` cut to at most `width` columns, whole characters only, and padded with spaces to it. */
export function fitColumns(s: string, width: number): string {
  const measure = stringWidth();
  let out = '';
  let n = 0;
  for (const ch of s) {
    const w = measure(ch);
    if (n + w > width) break;
    out += ch;
    n += w;
  }
  return out + ' '.repeat(width - n);
}
