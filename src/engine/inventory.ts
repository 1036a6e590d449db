/** `mailferry folders`: what a store holds, folder by folder — counts, bytes, special-use roles. */
import { MailferryError } from '../errors.js';
import { openSource } from '../drivers/registry.js';
import type { Source } from '../drivers/types.js';
import type { Logger } from '../log.js';
import { describeEndpoint, parseEndpoint } from './endpoint.js';
import { displayName, literalGlob, meantFolder } from './plan.js';
import { netFactory, type NetConfig } from './session.js';

export interface FolderInfo {
  name: string;
  /** The store's own name for it (IMAP path, Maildir++ directory). */
  path: string;
  specialUse: string | null;
  /** The folder only holds other folders. */
  noselect: boolean;
  messages: number;
  bytes: number;
}

export interface Inventory {
  endpoint: string;
  folders: FolderInfo[];
  messages: number;
  bytes: number;
}

export async function listFolders(cfg: NetConfig & { endpoint: string }, log: Logger): Promise<Inventory> {
  const ep = parseEndpoint(cfg.endpoint, 'source', cfg.sourceTls);
  const net = await netFactory(cfg, log);
  let source: Source | undefined;
  try {
    source = await openSource(ep, net('source'));
    // A folder in the URL: that folder and the ones below it.
    const want = ep.kind !== 'maildir' && ep.folder?.length ? ep.folder.join('/') : undefined;
    const all = await source.listMailboxes();
    const boxes = want
      ? all.filter((m) => {
          const n = displayName(m.segments);
          return n === want || n.startsWith(want + '/') || (want.toUpperCase() === 'INBOX' && n.toUpperCase() === 'INBOX');
        })
      : all;
    if (want && boxes.length === 0 && ep.kind !== 'maildir') {
      throw new MailferryError('NO_SUCH_MAILBOX', `${describeEndpoint({ ...ep, folder: undefined })} has no folder '${want}'${meantFolder(literalGlob(want), all)}`, { hint: 'leave the folder out of the URL to list them all' });
    }
    const folders: FolderInfo[] = [];
    for (const m of boxes) {
      const info: FolderInfo = { name: displayName(m.segments), path: m.path, specialUse: m.specialUse ?? null, noselect: !!m.noselect, messages: 0, bytes: 0 };
      if (!m.noselect) {
        const st = await source.status(m.path, { size: true });
        info.messages = st.messages;
        info.bytes = st.size ?? 0;
      }
      folders.push(info);
    }
    folders.sort((a, b) => (a.name === 'INBOX' ? -1 : b.name === 'INBOX' ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      endpoint: describeEndpoint(ep),
      folders,
      messages: folders.reduce((n, f) => n + f.messages, 0),
      bytes: folders.reduce((n, f) => n + f.bytes, 0),
    };
  } finally {
    await source?.close().catch(() => {});
  }
}
