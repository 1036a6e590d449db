/** IMAP system flags ↔ the letters of a Maildir file name's ":2," info suffix. */

const TO_LETTER: Record<string, string> = {
  '\\draft': 'D',
  '\\flagged': 'F',
  '\\answered': 'R',
  '\\seen': 'S',
  '\\deleted': 'T',
};
const TO_FLAG: Record<string, string> = { D: '\\Draft', F: '\\Flagged', R: '\\Answered', S: '\\Seen', T: '\\Deleted' };

/** The info suffix letters for a set of IMAP flags, in ASCII order as Maildir requires. */
export function flagsToInfo(flags: string[]): string {
  const letters = new Set<string>();
  for (const f of flags) {
    const l = TO_LETTER[f.toLowerCase()];
    if (l) letters.add(l);
  }
  return [...letters].sort().join('');
}

/** IMAP flags from a Maildir file name ("…:2,FS"). Unknown letters (keywords) are ignored. */
export function infoToFlags(fileName: string): string[] {
  const i = fileName.lastIndexOf(':2,');
  if (i < 0) return [];
  const out: string[] = [];
  for (const ch of fileName.slice(i + 3)) if (TO_FLAG[ch]) out.push(TO_FLAG[ch]);
  return out;
}
