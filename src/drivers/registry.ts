/** URL scheme → driver. The only place that knows which driver serves which endpoint. */
import { MailferryError } from '../errors.js';
import type { Endpoint } from '../engine/endpoint.js';
import type { NetOptions } from './net-options.js';
import type { Sink, Source } from './types.js';
import type { Logger } from '../log.js';

export type NetFactory = (e: Endpoint & { kind: 'imap' | 'pop3' }) => NetOptions;

/**
 * `readers`: workers' connections a source that has them (IMAP) logs in as soon as its own has,
 * for a run that will surely fetch (ImapSource.open).
 */
export async function openSource(e: Endpoint, net: NetFactory, opts: { readers?: number } = {}): Promise<Source> {
  switch (e.kind) {
    case 'imap': {
      const { ImapSource } = await import('./imap/source.js');
      return ImapSource.open(net(e), opts.readers);
    }
    case 'pop3': {
      const { Pop3Source } = await import('./pop3/source.js');
      return Pop3Source.open(net(e));
    }
    case 'maildir': {
      const { MaildirSource } = await import('./maildir/source.js');
      return MaildirSource.open(e.path);
    }
    default:
      throw new MailferryError('USAGE', `${(e as Endpoint).scheme}: is not supported as a source`, { hint: 'use imap://, imaps://, pop3://, pop3s:// or maildir:' });
  }
}

/** Only IMAP and Maildir take mail in; said before anything is opened. */
export function checkSinkKind(e: Endpoint): void {
  if (e.kind !== 'imap' && e.kind !== 'maildir') {
    throw new MailferryError('USAGE', `${e.scheme}: cannot be a destination (POP3 only delivers mail)`, { hint: 'use an imap://, imaps:// or maildir: destination' });
  }
}

/**
 * `readOnly`: for verify and --dry-run, the sink creates nothing. `log`: a Maildir sink's warnings.
 * `sourceAccount`: the destination is the source's own account (an IMAP sink then opens no extra
 * connections: the account's connection limit is shared with the source's readers).
 */
export async function openSink(e: Endpoint, net: NetFactory, opts: { readOnly?: boolean; log?: Logger; sourceAccount?: boolean } = {}): Promise<Sink> {
  switch (e.kind) {
    case 'imap': {
      const { ImapSink } = await import('./imap/sink.js');
      return ImapSink.open(net(e), { readOnly: opts.readOnly, lanes: opts.sourceAccount ? 1 : undefined });
    }
    case 'maildir': {
      const { MaildirSink } = await import('./maildir/sink.js');
      const log = opts.log;
      return MaildirSink.open(e.path, { readOnly: opts.readOnly, warn: log && ((msg) => log.warn({ msg })) });
    }
    default:
      checkSinkKind(e);
      throw new MailferryError('INTERNAL', `no sink for ${e.scheme}:`);
  }
}
