/**
 * IMAP flags ↔ the letters of a Maildir file name's ":2," info suffix. System flags are the
 * upper-case letters of the Maildir spec; keywords ($Forwarded, Junk, labels) are the lower-case
 * letters a–z, each standing for the keyword on its line of the folder's `dovecot-keywords`
 * ("0 $Forwarded", "1 Junk": Dovecot's convention, read by Dovecot and Courier-style readers).
 * A source's P ("passed") is read as $Forwarded, which is written as a keyword letter.
 */
import { join } from 'node:path';
import { readMaildirFile } from './read-header.js';

const TO_LETTER: Record<string, string> = {
  '\\draft': 'D',
  '\\flagged': 'F',
  '\\answered': 'R',
  '\\seen': 'S',
  '\\deleted': 'T',
};
const TO_FLAG: Record<string, string> = { D: '\\Draft', F: '\\Flagged', R: '\\Answered', S: '\\Seen', T: '\\Deleted' };

const FORWARDED = '$Forwarded';

/** Keyword letters a folder can have: a–z. */
export const MAX_KEYWORDS = 26;
const A = 'a'.charCodeAt(0);

/** A keyword as IMAP allows it (an atom, not a system flag): anything else is never stored. */
export function isKeyword(flag: string): boolean {
  // atom-specials (RFC 3501): ( ) { SP CTL % * " \ ]
  return flag.length > 0 && flag.length <= 200 && /^[\x21-\x7e]+$/.test(flag) && !/[(){%*"\\\]]/.test(flag);
}

/** A `dovecot-keywords` file as a table: index (0–25) → keyword. Malformed lines are skipped. */
export function parseKeywords(text: string): (string | undefined)[] {
  const table: (string | undefined)[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d{1,2}) (\S+)$/.exec(line.replace(/\r$/, ''));
    if (!m) continue;
    const i = Number(m[1]);
    if (i < MAX_KEYWORDS && isKeyword(m[2])) table[i] = m[2];
  }
  return table;
}

/** The path of folder `dir`'s keyword table. */
export const keywordsPath = (dir: string): string => join(dir, 'dovecot-keywords');

/** Dovecot's table is 26 short lines; what is longer is not read further. */
const MAX_KEYWORDS_FILE = 64 * 1024;

/**
 * Folder `dir`'s keyword table; empty when it has none. Other read errors are thrown as they are:
 * a link (ELOOP) or a FIFO (ENOTREG) planted in its place is never followed or read.
 */
export async function readKeywords(dir: string): Promise<(string | undefined)[]> {
  try {
    return parseKeywords((await readMaildirFile(keywordsPath(dir), MAX_KEYWORDS_FILE)).toString('latin1'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The `dovecot-keywords` text of a table. */
export function formatKeywords(table: readonly (string | undefined)[]): string {
  let out = '';
  table.forEach((k, i) => {
    if (k !== undefined) out += `${i} ${k}\n`;
  });
  return out;
}

/**
 * The info suffix letters for a set of IMAP flags, in ASCII order as Maildir requires. Keywords
 * become the letters `letterOf` gives them (a keyword it has none for is left out).
 */
export function flagsToInfo(flags: readonly string[], letterOf?: (keyword: string) => string | undefined): string {
  const letters = new Set<string>();
  for (const f of flags) {
    const l = TO_LETTER[f.toLowerCase()] ?? (letterOf && isKeyword(f) ? letterOf(f) : undefined);
    if (l) letters.add(l);
  }
  return [...letters].sort().join('');
}

/** The letter of keyword index `i`. */
export const keywordLetter = (i: number): string => String.fromCharCode(A + i);

/** IMAP flags from a Maildir file name ("…:2,FSa"); keyword letters through `keywords` (the folder's table). */
export function infoToFlags(fileName: string, keywords?: readonly (string | undefined)[]): string[] {
  const i = fileName.lastIndexOf(':2,');
  if (i < 0) return [];
  const out: string[] = [];
  for (const ch of fileName.slice(i + 3)) {
    const system = TO_FLAG[ch];
    if (system) out.push(system);
    // "Passed" (resent, forwarded, bounced: mutt, the Maildir spec) is IMAP's $Forwarded.
    else if (ch === 'P') out.push(FORWARDED);
    else if (ch >= 'a' && ch <= 'z') {
      const k = keywords?.[ch.charCodeAt(0) - A];
      if (k !== undefined) out.push(k);
    }
  }
  return out.length > 1 ? [...new Set(out)] : out;
}
