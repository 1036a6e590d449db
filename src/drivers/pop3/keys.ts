/**
 * The keys of POP3 messages: from their UIDLs, which RFC 1939 makes unique, printable and without
 * spaces. Servers break all three: a UIDL two messages share (told apart by order), and Dovecot
 * with `pop3_reuse_xuidl`, which gives a message the text of its own X-UIDL: header — words with
 * spaces or tabs between them, or nothing at all.
 *
 * A key must never be one another message could have (a message taken for one already copied is
 * passed over, and deleted by --delete-source), so the three kinds cannot meet:
 * - a UIDL's first message: the UIDL itself (trimmed, never empty). One ending in a space and
 *   digits ("spam 2", as the second message of "spam" would be) gets " 1" added ("spam 2 1");
 * - its later messages: the UIDL, a space and their place among them ("spam 2", "spam 3"): a
 *   key ending in a space and a number of 2 or more is one of these, whose UIDL is what precedes;
 * - a message without a UIDL: a key with a character no UIDL holds (UIDL lines are read as
 *   latin1, one character a byte, so none is past U+00FF: here an em dash).
 * UIDLs as RFC 1939 has them hold no space: their keys are what they always were.
 */

/** The key of the `place`-th message (1 for the first) the server gives this UIDL. */
export function uidlKey(uidl: string, place: number): string {
  if (place > 1) return `${uidl} ${place}`;
  return / \d+$/.test(uidl) ? `${uidl} 1` : uidl;
}

/** The key of message `n`, which the server gives no UIDL (listed only to fail: it is never done). */
export function noUidlKey(n: number): string {
  return `no UIDL — message ${n}`;
}
