/**
 * Whether a checkpoint is this job's. Its header names the job by the endpoints' descriptions
 * (engine/endpoint.ts#describeEndpoint) and a key made of them and the dedupe mode.
 */
import type { JobHeader } from './journal.js';
import { jobKey } from './path.js';

/**
 * A description with its host in lower case: host names are case-insensitive (`LOCALHOST` and
 * `localhost` are one server), as describeEndpoint now writes them. The user and the folder are
 * kept as written (an account's name may be case-sensitive on its server).
 */
export function hostInOneCase(desc: string): string {
  const m = /^([a-z0-9+.-]+:\/\/[^@/]*@)(\[[^\]]*\]|[^:/]*)(.*)$/s.exec(desc);
  return m ? m[1]! + m[2]!.toLowerCase() + m[3]! : desc;
}

/**
 * The same job: the same key, or a checkpoint written before host names were written in one case
 * (`imap://alice@MAIL.example.org`), whose endpoints are ours spelled so, under the same dedupe
 * mode (its key says which). Such a checkpoint was refused as another job's once the URL was
 * written in lower case, and the default one was looked for under another name.
 */
export function sameJob(theirs: JobHeader, ours: JobHeader, dedupe?: string): boolean {
  if (theirs.job === ours.job) return true;
  if (dedupe === undefined) return false;
  return hostInOneCase(theirs.source) === ours.source && hostInOneCase(theirs.dest) === ours.dest && theirs.job === jobKey(theirs.source, `${theirs.dest}\n${dedupe}`);
}
