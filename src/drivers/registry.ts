/** URL scheme → driver. The only place that knows which driver serves which endpoint. */
import { MailferryError } from '../errors.js';
import type { Endpoint } from '../engine/endpoint.js';
import type { NetOptions } from './net-options.js';
import type { Sink, Source } from './types.js';

export type NetFactory = (e: Endpoint & { kind: 'imap' | 'pop3' }) => NetOptions;

export async function openSource(e: Endpoint, net: NetFactory): Promise<Source> {
  switch (e.kind) {
    case 'imap': {
      const { ImapSource } = await import('./imap/source.js');
      return ImapSource.open(net(e));
    }
    default:
      throw new MailferryError('USAGE', `${e.scheme}: is not supported as a source yet`, { hint: 'use an imap:// or imaps:// source' });
  }
}

export async function openSink(e: Endpoint, _net: NetFactory): Promise<Sink> {
  switch (e.kind) {
    case 'maildir': {
      const { MaildirSink } = await import('./maildir/sink.js');
      return MaildirSink.open(e.path);
    }
    default:
      throw new MailferryError('USAGE', `${e.scheme}: is not supported as a destination yet`, { hint: 'use a maildir: destination' });
  }
}
