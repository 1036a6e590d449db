/**
 * `mailferry verify SOURCE DEST`: per folder pair (planned exactly as copy plans them), the
 * source's identities against the destination's. Missing = in the source, not in the
 * destination; extra = in the destination, not in the source. Reads only: the destination is
 * opened read-only, no checkpoint is touched.
 */
import { MailferryError, spoilsOneFolder } from '../errors.js';
import { openSink, openSource } from '../drivers/registry.js';
import type { MessageRef, Sink, Source } from '../drivers/types.js';
import type { Logger } from '../log.js';
import { existsSync, statSync } from 'node:fs';
import { Journal, type CheckpointState } from '../checkpoint/journal.js';
import { checkpointPathOf } from '../checkpoint/path.js';
import { hostInOneCase } from '../checkpoint/same-job.js';
import { scanDestination } from './dest-scan.js';
import { describeEndpoint, parseEndpoint, selfPrefix } from './endpoint.js';
import { filterReason, type FilterSpec, type FolderMap } from './filters.js';
import { identityBeforeBody, identityOfFetched, type Identity } from './identity.js';
import { bodiesForDigest } from './digest-bodies.js';
import { destHint, displayName, planJob, type FolderPlan } from './plan.js';
import { netFactory, type NetConfig } from './session.js';

export interface VerifyConfig extends NetConfig {
  source: string;
  dest: string;
  folders: string[];
  exclude: string[];
  map?: FolderMap[];
  filter?: FilterSpec;
  dedupe: 'message-id' | 'content';
  /** The copy job's checkpoint, read (never written) for where each folder was put; default: the copy's default path. */
  checkpoint?: string;
  /**
   * `checkpoint` was named on the command line: one missing, unreadable or of another copy is an
   * error (a mistyped path would otherwise verify against the wrong folders in silence).
   */
  checkpointNamed?: boolean;
}

export interface VerifyItem {
  folder: string;
  /** Source key (missing) or destination key (extra). */
  key: string;
  messageId: string | null;
  identity: string;
}

export interface VerifyFolder {
  /** Source folder(s) ('/' between levels); several when --map merges them. */
  folder: string;
  dest: string;
  /** The destination folder exists. */
  exists: boolean;
  source: number;
  destination: number;
  filtered: number;
  missing: number;
  extra: number;
  /** Further copies of a source message the destination folder already holds once (stored twice). */
  duplicates: number;
  /** Source messages its server could not read (not compared; counted in `source`). */
  unreadable: number;
  /** The folder could not be read (listed, or scanned in the destination): nothing of it compared. */
  error?: string;
}

export interface VerifyResult {
  source: string;
  dest: string;
  ok: boolean;
  messages: number;
  missing: number;
  extra: number;
  /** Destination messages that are a second (third, …) copy of one source message. */
  duplicates: number;
  /** Source messages its server could not read: not compared, so the result is not ok. */
  unreadable: number;
  folders: VerifyFolder[];
  missingList: VerifyItem[];
  extraList: VerifyItem[];
  duplicateList: VerifyItem[];
  unreadableList: Array<{ folder: string; key: string; error: string }>;
  /** Folders that could not be read (each also in `folders`, with its `error`). */
  failedFolders: number;
  /** Source folders with no destination folder (`exists: false`, an empty one too: copy makes every folder). */
  missingFolders: number;
  verdict: string;
}

async function sourceIdentities(
  source: Source,
  plan: FolderPlan,
  cfg: VerifyConfig,
  signal?: AbortSignal,
): Promise<{ ids: Map<Identity, MessageRef>; count: number; filtered: number; filteredIds: Set<Identity>; unreadable: MessageRef[] }> {
  const ids = new Map<Identity, MessageRef>();
  const filteredIds = new Set<Identity>();
  const needBody: MessageRef[] = [];
  const unreadable: MessageRef[] = [];
  let count = 0;
  let filtered = 0;
  for await (const ref of source.list(plan.source.path, { unreadable: true })) {
    if (ref.unreadable) {
      // Its server cannot read it: counted, named, not compared (the rest of the folder is).
      count++;
      unreadable.push(ref);
      continue;
    }
    if (filterReason(cfg.filter, ref)) {
      filtered++;
      const fid = identityBeforeBody(ref.messageId, cfg.dedupe);
      if (fid !== null) filteredIds.add(fid);
      else needBody.push(ref); // its digest, so a copy made without the filter is not "extra"
      continue;
    }
    count++;
    const id = identityBeforeBody(ref.messageId, cfg.dedupe);
    if (id === null) needBody.push(ref);
    else if (!ids.has(id)) ids.set(id, ref);
  }
  const unsent = (ref: MessageRef, e: MailferryError) => {
    if (!filterReason(cfg.filter, ref)) unreadable.push({ ...ref, unreadable: e });
  };
  for await (const m of bodiesForDigest(source, plan.source.path, needBody, unsent, signal, cfg.retries ?? 5)) {
    const id = identityOfFetched(m.ref, m.body, cfg.dedupe);
    if (filterReason(cfg.filter, m.ref)) filteredIds.add(id);
    else if (!ids.has(id)) ids.set(id, m.ref);
  }
  return { ids, count, filtered, filteredIds, unreadable };
}

interface Findings {
  missing: VerifyItem[];
  extra: VerifyItem[];
  duplicates: VerifyItem[];
  unreadable: VerifyResult['unreadableList'];
}

/**
 * The copy's checkpoint, read only, for where it put each folder (a destination folder earlier
 * runs chose is kept while it exists: verify must look there too). Best effort (none is fine),
 * unless the command line named it.
 */
function copyCheckpoint(cfg: VerifyConfig, srcDesc: string, dstDesc: string): CheckpointState | undefined {
  const named = cfg.checkpointNamed === true && cfg.checkpoint !== undefined;
  let path: string;
  try {
    path = cfg.checkpoint ?? checkpointPathOf(srcDesc, dstDesc);
  } catch {
    return undefined; // no home for a default one (a container's uid): verify without it
  }
  let found: { state: CheckpointState; header: { source: string; dest: string } };
  try {
    try {
      statSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (!named) return undefined;
      if (code === 'ENOENT') throw new MailferryError('BAD_CONFIG', `no checkpoint at ${path}`, { hint: 'give the --checkpoint of the copy (its --json result names it, "checkpoint"), or leave the flag out' });
      throw new MailferryError('BAD_CONFIG', `cannot read the checkpoint ${path}: ${code ?? (err as Error).message}`);
    }
    found = Journal.replay(path);
  } catch (err) {
    if (named) throw err instanceof MailferryError ? err : new MailferryError('BAD_CONFIG', `cannot read the checkpoint ${path}: ${(err as Error).message}`);
    return undefined;
  }
  if (hostInOneCase(found.header.source) === srcDesc && hostInOneCase(found.header.dest) === dstDesc) return found.state;
  if (named) {
    throw new MailferryError('CHECKPOINT_MISMATCH', `${path} is the checkpoint of another copy (${found.header.source} → ${found.header.dest})`, {
      hint: `verify SOURCE DEST with the same SOURCE and DEST as that copy, or leave --checkpoint out`,
    });
  }
  return undefined;
}

/** What one destination folder holds against its source folder(s); thrown failures are the folder's. */
async function verifyGroup(source: Source, sink: Sink, cfg: VerifyConfig, signal: AbortSignal | undefined, destName: string, group: FolderPlan[], box: string | null): Promise<{ row: VerifyFolder; found: Findings }> {
  const mine: Findings = { missing: [], extra: [], duplicates: [], unreadable: [] };
  const want = new Map<Identity, { ref: MessageRef; folder: string }>();
  let count = 0;
  let filtered = 0;
  let unreadable = 0;
  // Filtered out of the source, but possibly copied by an earlier unfiltered run: not "extra".
  const outOfScope = new Set<Identity>();
  for (const plan of group) {
    const s = await sourceIdentities(source, plan, cfg, signal);
    count += s.count;
    filtered += s.filtered;
    unreadable += s.unreadable.length;
    for (const r of s.unreadable) mine.unreadable.push({ folder: plan.name, key: r.key, error: r.unreadable!.message });
    for (const id of s.filteredIds) outOfScope.add(id);
    for (const [id, ref] of s.ids) if (!want.has(id)) want.set(id, { ref, folder: plan.name });
  }
  const have = new Set<Identity>();
  let destCount = 0;
  // As copy names it: the folder it found (a role may lead elsewhere than the source's name).
  const shown = box !== null ? (sink.displayName?.(box) ?? destName) : destName;
  const row: VerifyFolder = { folder: group.map((p) => p.name).join(', '), dest: shown, exists: box !== null, source: count, destination: 0, filtered, missing: 0, extra: 0, duplicates: 0, unreadable };
  if (box !== null) {
    for await (const e of scanDestination(sink, box, cfg.dedupe)) {
      destCount++;
      if (!e.identity) continue;
      if (have.has(e.identity) && want.has(e.identity)) {
        row.duplicates++;
        mine.duplicates.push({ folder: shown, key: e.key, messageId: e.messageId ?? null, identity: e.identity });
      }
      have.add(e.identity);
      if (!want.has(e.identity) && !outOfScope.has(e.identity)) {
        row.extra++;
        mine.extra.push({ folder: shown, key: e.key, messageId: e.messageId ?? null, identity: e.identity });
      }
    }
  }
  row.destination = destCount;
  for (const [id, { ref, folder }] of want) {
    if (have.has(id)) continue;
    row.missing++;
    mine.missing.push({ folder, key: ref.key, messageId: ref.messageId, identity: id });
  }
  return { row, found: mine };
}

export async function runVerify(cfg: VerifyConfig, hooks: { log: Logger; signal?: AbortSignal }): Promise<VerifyResult> {
  const src = parseEndpoint(cfg.source, 'source', cfg.sourceTls);
  const dst = parseEndpoint(cfg.dest, 'dest', cfg.destTls);
  const net = await netFactory(cfg, hooks.log);
  const state = copyCheckpoint(cfg, describeEndpoint(src), describeEndpoint(dst));
  let source: Source | undefined;
  let sink: Sink | undefined;
  try {
    // A Maildir that is not there at all is a wrong path, not a destination missing everything.
    if (dst.kind === 'maildir' && !existsSync(dst.path)) {
      throw new MailferryError('NO_SUCH_MAILBOX', `maildir:${dst.path} does not exist`, { hint: 'check the maildir: path (copy creates it; verify only reads)' });
    }
    sink = await openSink(dst, net('dest'), { readOnly: true });
    if (!sink.existingMailbox) throw new MailferryError('USAGE', `verify cannot read a ${dst.scheme}: destination yet`, { hint: 'verify a maildir: or imap: destination' });
    source = await openSource(src, net('source'));
    const { plans, unmatched, unusedExcludes } = planJob(await source.listMailboxes(), src, dst, cfg, await selfPrefix(src, dst));
    for (const w of unusedExcludes) hooks.log.warn({ msg: w });
    // Several source folders may land in one destination folder (--map; two folders with one
    // role, which the destination routes to its own): compare per destination folder, as found.
    const folders: VerifyFolder[] = [];
    const failedRow = (group: FolderPlan[], destName: string, err: Error): VerifyFolder => ({ folder: group.map((p) => p.name).join(', '), dest: destName, exists: false, source: 0, destination: 0, filtered: 0, missing: 0, extra: 0, duplicates: 0, unreadable: 0, error: err.message });
    const groups = new Map<string, { destName: string; box: string | null; group: FolderPlan[] }>();
    for (const p of plans) {
      let destName = displayName(p.destSegments);
      let box: string | null;
      try {
        box = await sink.existingMailbox!(p.destSegments, p.role, destHint(p, state));
        // Not there: named where the copy would make it (Sent/2020 under the account's Sent Items).
        if (box === null && sink.plannedMailbox) destName = sink.displayName?.(await sink.plannedMailbox(p.destSegments, p.role, destHint(p, state))) ?? destName;
      } catch (err) {
        if (!spoilsOneFolder(err)) throw err;
        hooks.log.debug({ msg: `verify: ${destName}: ${err.message}` });
        folders.push(failedRow([p], destName, err));
        continue;
      }
      const k = box !== null ? `\0${box}` : destName;
      const g = groups.get(k);
      if (g) g.group.push(p);
      else groups.set(k, { destName, box, group: [p] });
    }
    // A --folder that named nothing was not compared: failed, as a folder that could not be read.
    for (const u of unmatched) folders.push({ folder: u.glob, dest: '', exists: false, source: 0, destination: 0, filtered: 0, missing: 0, extra: 0, duplicates: 0, unreadable: 0, error: u.error.message });
    const missingList: VerifyItem[] = [];
    const extraList: VerifyItem[] = [];
    const duplicateList: VerifyItem[] = [];
    const unreadableList: VerifyResult['unreadableList'] = [];
    for (const { destName, box, group } of groups.values()) {
      if (hooks.signal?.aborted) throw new MailferryError('INTERRUPTED', 'verify interrupted');
      try {
        // A folder's findings are added once it is done: one that fails adds none.
        const { row, found } = await verifyGroup(source, sink, cfg, hooks.signal, destName, group, box);
        folders.push(row);
        missingList.push(...found.missing);
        extraList.push(...found.extra);
        duplicateList.push(...found.duplicates);
        unreadableList.push(...found.unreadable);
      } catch (err) {
        if (!spoilsOneFolder(err)) throw err;
        hooks.log.debug({ msg: `verify: ${destName}: ${err.message}` });
        folders.push(failedRow(group, destName, err));
      }
    }
    const messages = folders.reduce((n, f) => n + f.source, 0);
    const missing = missingList.length;
    const extra = extraList.length;
    const duplicates = duplicateList.length;
    const unreadable = unreadableList.length;
    const failedFolders = folders.filter((f) => f.error).length;
    const absent = folders.filter((f) => !f.error && !f.exists);
    const missingFolders = absent.length;
    const extraText =
      (missingFolders > 0 ? `; ${missingFolders} folder${missingFolders === 1 ? '' : 's'} of the source ${missingFolders === 1 ? 'is' : 'are'} not in the destination (${absent.slice(0, 5).map((f) => f.dest).join(', ')}${missingFolders > 5 ? ', …' : ''})` : '') +
      (failedFolders > 0 ? `; ${failedFolders} folder${failedFolders === 1 ? '' : 's'} could not be read and ${failedFolders === 1 ? 'was' : 'were'} not compared` : '') +
      (unreadable > 0 ? `; ${unreadable} message${unreadable === 1 ? '' : 's'} of the source could not be read by its server and ${unreadable === 1 ? 'was' : 'were'} not compared` : '') +
      (extra > 0 ? ` (the destination also holds ${extra} message${extra === 1 ? '' : 's'} not in the source)` : '') +
      (duplicates > 0 ? ` (and ${duplicates} second cop${duplicates === 1 ? 'y' : 'ies'} of source messages it holds already)` : '');
    const compared = messages - unreadable;
    const readable = unreadable > 0 ? 'readable ' : '';
    const verdict =
      missing === 0
        ? `verify: ${compared === 1 ? 'the one' : `all ${compared}`} ${readable}message${compared === 1 ? '' : 's'} ${failedFolders > 0 ? 'compared' : 'of the source'} ${compared === 1 ? 'is' : 'are'} in the destination${extraText}`
        : `verify: ${missing} of ${compared} ${readable}message${compared === 1 ? '' : 's'} of the source ${missing === 1 ? 'is' : 'are'} missing from the destination${extraText}`;
    return {
      source: describeEndpoint(src),
      dest: describeEndpoint(dst),
      ok: missing === 0 && unreadable === 0 && failedFolders === 0 && missingFolders === 0,
      messages,
      missing,
      extra,
      duplicates,
      unreadable,
      folders,
      missingList,
      extraList,
      duplicateList,
      unreadableList,
      failedFolders,
      missingFolders,
      verdict,
    };
  } finally {
    await source?.close().catch(() => {});
    await sink?.close().catch(() => {});
  }
}
