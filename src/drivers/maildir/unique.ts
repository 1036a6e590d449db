/** Maildir unique file names (the de-facto Dovecot/Courier form) and their stable keys. */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

const HOST = hostname().replace(/\//g, '\\057').replace(/:/g, '\\072').replace(/,/g, '\\054') || 'localhost';
let counter = 0;
/** Random per process (not per message: the counter makes names within a process unique). */
const RAND = randomBytes(4).toString('hex');

/**
 * time.MusecPpidQnRrand.host — unique across processes, hosts and restarts. The file's name is this
 * plus ",S=size" (the Dovecot extension).
 */
export function uniqueBase(): string {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  const usec = (now % 1000) * 1000 + Math.floor(Math.random() * 1000);
  counter++;
  return `${sec}.M${usec}P${process.pid}Q${counter}R${RAND}.${HOST}`;
}

/** The part of a Maildir file name that stays when a mail client changes its flags. */
export function keyOfFileName(name: string): string {
  const i = name.indexOf(':');
  return i < 0 ? name : name.slice(0, i);
}

const OURS = /^\d+\.M\d+P(\d+)Q\d+R[0-9a-f]{8}\.(.*)$/;

/**
 * A file mailferry left in tmp/ (a run killed between create and rename): one of its names, from
 * this host, by a process that is no longer running. Such a file was never renamed into cur/, so
 * no message lives in it.
 */
export function isLeftoverOfOurs(name: string, alive: (pid: number) => boolean): boolean {
  const m = OURS.exec(name);
  if (!m || m[2] !== HOST) return false;
  const pid = Number(m[1]);
  return pid !== process.pid && !alive(pid);
}

