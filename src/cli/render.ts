/** Human renderings of engine results (dry-run plan, verify, folders, checkpoint). */
import type { CheckpointSummary } from '../engine/checkpoint-info.js';
import type { CheckpointList } from '../engine/checkpoint-list.js';
import type { DryRunResult } from '../engine/dry-run.js';
import type { Inventory } from '../engine/inventory.js';
import type { VerifyResult } from '../engine/verify.js';
import { LOST_AGAIN, LOST_WORDS } from '../engine/events.js';
import { formatBytes } from './progress.js';
import { counted, displayWidth, headerText } from '../strings.js';

function table(rows: string[][]): string[] {
  // Padded by the columns a cell takes on a terminal (a folder named in CJK, or with an emoji).
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => displayWidth(r[i]))));
  const pad = (c: string, w: number) => ' '.repeat(Math.max(0, w - displayWidth(c)));
  return rows.map((r) => r.map((c, i) => (i === 0 || i === r.length - 1 ? c + pad(c, widths[i]) : pad(c, widths[i]) + c)).join('  ').trimEnd());
}

/** A plan larger than the room its destination has left (sizes as the source gives them, so approximate). */
export function notFitting(r: DryRunResult): string | undefined {
  if (!r.wouldNotFit || !r.room) return undefined;
  const left = r.room.what === 'quota' ? `${formatBytes(r.room.free)} left of its ${formatBytes(r.room.limit)} quota` : `${formatBytes(r.room.free)} free on its file system`;
  return `the destination has ${left}: the ${formatBytes(r.bytes)} this plan copies will not fit, and the copy stops when it is full (exit 3)`;
}

export function renderPlan(r: DryRunResult): string[] {
  const lines = [`dry run: ${r.source} → ${r.dest} (nothing is written)`];
  for (const f of r.folders) {
    if (f.error) {
      lines.push(`  ${f.folder}${f.dest ? ` → ${f.dest}` : ''}: would fail: ${f.error}`);
      continue;
    }
    if (f.unchanged) {
      lines.push(`  ${f.folder} → ${f.dest}: unchanged since the last complete run`);
      continue;
    }
    const skips = Object.entries(f.skip).map(([why, n]) => `${n} ${why}`);
    const lost = f.destLost ? ` (the destination folder ${LOST_WORDS[f.destLost]}: ${LOST_AGAIN[f.destLost]})` : '';
    lines.push(
      `  ${f.folder} → ${f.dest}${f.destExists ? '' : ' (new)'}${lost}: copy ${f.copy} (${formatBytes(f.bytes)})` +
        (skips.length ? `, skip ${skips.join(', ')}` : '') +
        (f.tooLarge ? `, fail ${f.tooLarge} too large` : '') +
        (f.unreadable ? `, fail ${f.unreadable} unreadable` : '') +
        (f.byContent ? `; ${f.byContent} compared by content` : ''),
    );
  }
  lines.push(
    `would copy ${counted(r.copy, 'message')} (${formatBytes(r.bytes)}), skip ${r.skipped}` +
      (r.tooLarge ? `, fail ${r.tooLarge} too large` : '') +
      (r.unreadable ? `, fail ${r.unreadable} unreadable` : '') +
      (r.failedFolders ? `, fail ${r.failedFolders} folder${r.failedFolders === 1 ? '' : 's'}` : '') +
      (r.delete !== undefined ? `, delete ${r.delete} from the source` : '') +
      `, in ${r.folders.length} folder${r.folders.length === 1 ? '' : 's'}`,
  );
  return lines;
}

export function renderVerify(r: VerifyResult, limit = 50): string[] {
  const lines: string[] = [];
  for (const f of r.folders) {
    if (f.error) {
      lines.push(`${f.folder}${f.dest ? ` → ${f.dest}` : ''}: not compared: ${f.error}`);
      continue;
    }
    lines.push(`${f.folder} → ${f.dest}: ${f.source} in source, ${f.destination} in destination, ${f.missing} missing, ${f.extra} extra${f.duplicates ? `, ${f.duplicates} duplicate${f.duplicates === 1 ? '' : 's'}` : ''}${f.filtered ? `, ${f.filtered} filtered out` : ''}${f.unreadable ? `, ${f.unreadable} unreadable in the source` : ''}${f.exists ? '' : ' (destination folder does not exist)'}`);
  }
  for (const m of r.unreadableList.slice(0, limit)) lines.push(`unreadable: ${m.folder} #${m.key}: ${m.error}`);
  if (r.unreadableList.length > limit) lines.push(`… and ${r.unreadableList.length - limit} more unreadable (see --json)`);
  for (const m of r.missingList.slice(0, limit)) lines.push(`missing: ${m.folder} #${m.key} ${headerText(m.messageId ?? m.identity)}`);
  if (r.missingList.length > limit) lines.push(`… and ${r.missingList.length - limit} more missing (see --json)`);
  for (const m of r.extraList.slice(0, limit)) lines.push(`extra: ${m.folder} ${m.key} ${headerText(m.messageId ?? m.identity)}`);
  if (r.extraList.length > limit) lines.push(`… and ${r.extraList.length - limit} more extra (see --json)`);
  for (const m of r.duplicateList.slice(0, limit)) lines.push(`duplicate: ${m.folder} ${m.key} ${headerText(m.messageId ?? m.identity)}`);
  if (r.duplicateList.length > limit) lines.push(`… and ${r.duplicateList.length - limit} more duplicates (see --json)`);
  lines.push(r.verdict);
  return lines;
}

export function renderFolders(inv: Inventory): string[] {
  const rows = [['FOLDER', 'MESSAGES', 'SIZE', 'ROLE']];
  for (const f of inv.folders) rows.push([f.name, f.noselect ? '-' : String(f.messages), f.noselect ? '-' : formatBytes(f.bytes), f.specialUse ?? '']);
  rows.push(['total', String(inv.messages), formatBytes(inv.bytes), '']);
  return table(rows);
}

export function renderCheckpoint(c: CheckpointSummary): string[] {
  const lines = [
    `checkpoint ${c.path}`,
    `  job: ${c.source} → ${c.dest}`,
    `  created ${c.created}; ${c.records} records, ${formatBytes(c.bytes)}`,
    `  ${counted(c.done, 'message')} done, ${c.pending} pending (checked against the destination on the next run)`,
    c.locked ? `  locked by pid ${c.locked.pid} on ${c.locked.host} since ${c.locked.started}` : '  not locked',
  ];
  for (const f of c.folders) lines.push(`  ${f.folder}: ${f.done} done, ${f.pending} pending${f.completeUpTo !== null ? `, complete below UID ${f.completeUpTo}` : ''} (validity ${f.validity ?? '?'})`);
  return lines;
}

export function renderCheckpointList(r: CheckpointList): string[] {
  if (r.checkpoints.length === 0) return [`no checkpoints in ${r.dir}`];
  const lines = [`${counted(r.checkpoints.length, 'checkpoint')} in ${r.dir}, newest first:`];
  for (const c of r.checkpoints) {
    lines.push(`  ${c.path}`);
    lines.push(`    ${c.source} → ${c.dest}`);
    lines.push(`    last written ${c.modified.slice(0, 16).replace('T', ' ')} UTC, ${formatBytes(c.bytes)}${c.locked ? `, locked by pid ${c.locked.pid} on ${c.locked.host}` : ''}`);
  }
  return lines;
}
