/** What the engine tells its observers (progress views, reports). It never writes to a terminal. */
import type { ThrottleSummary } from './throttle.js';

/** Why a destination folder counts as lost: gone, empty, or deleted and made again (engine/dest-lost.ts). */
export type LostWhy = 'missing' | 'empty' | 'replaced';

/**
 * How each is said: "the destination folder …". A new UIDVALIDITY is also what a migration of the
 * destination's server gives a folder that still holds every message: not said to be wiped.
 */
export const LOST_WORDS: Record<LostWhy, string> = { missing: 'is gone', empty: 'is empty', replaced: 'has a new UIDVALIDITY (deleted and made again, or its server migrated)' };

/** What the run does about it: a folder gone or empty is copied again; one renumbered is checked message by message (what is still there is skipped). */
export const LOST_AGAIN: Record<LostWhy, string> = { missing: 'copied again', empty: 'copied again', replaced: 'each message checked again' };

export interface FolderResult {
  folder: string;
  dest?: string;
  /** Messages listed in the source this run (0 when the folder was unchanged). */
  listed: number;
  /** Messages already done by earlier runs (from the checkpoint). */
  already: number;
  copied: number;
  skipped: number;
  failed: number;
  bytes: number;
  /** Left out by --since / --before / --max-size (not journaled: a later run may copy them). */
  filtered?: number;
  /** Nothing changed since the last complete run: not even listed. */
  unchanged: boolean;
  /** The destination folder was found gone, empty or made again although earlier runs had copied into it: copied again. */
  destLost?: LostWhy;
  error?: string;
}

export interface Failure {
  folder: string;
  key: string;
  messageId: string | null;
  code: string;
  error: string;
}

export interface CopyResult {
  copied: number;
  skipped: number;
  failed: number;
  bytes: number;
  folders: FolderResult[];
  failures: Failure[];
  interrupted: boolean;
  /** When and how long servers throttled the run (absent when they never did). */
  throttled?: ThrottleSummary;
}

export type CopyEvent =
  /** `messages`: how many the folder is expected to have to copy or skip (see folder-total). */
  | { type: 'folder-start'; folder: string; dest: string; messages: number }
  /** The listing ended with a count other than folder-start announced: the exact one. */
  | { type: 'folder-total'; folder: string; messages: number }
  | { type: 'message'; folder: string; bytes: number }
  /** A listed message not stored (present, duplicate, vanished): progress moves on all the same. */
  | { type: 'skipped'; folder: string }
  | { type: 'folder-done'; result: FolderResult }
  | { type: 'retry'; folder: string; attempt: number; delayMs: number; error: string }
  | { type: 'throttled'; folder: string; at: string; delayMs: number; message: string }
  | { type: 'warning'; message: string };

export interface Outcome {
  outcome: 'copied' | 'skipped' | 'failed';
  folder: string;
  key: string;
  messageId: string | null;
  identity?: string;
  dest?: string;
  destKey?: string;
  reason?: string;
  error?: string;
}
