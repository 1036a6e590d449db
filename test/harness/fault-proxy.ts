/**
 * A fault-injecting TCP proxy for tests: listens on 127.0.0.1 (free port) and forwards to a real
 * server, and on demand cuts connections after N bytes of a chosen command's traffic, delays
 * every chunk, or stalls (stops forwarding, keeps the socket open). Plain-text protocols only
 * (it reads client commands to know when a FETCH / RETR / APPEND is running).
 *
 * Faults apply per connection, counted from the moment a client line matches `trigger`:
 * - cutAfterBytes: destroy both sockets once that many bytes flowed in `direction` since the
 *   trigger (so a body FETCH is cut every N bytes, whatever reconnects follow).
 * - stallAfterBytes: stop forwarding in `direction` at that point, leaving the sockets open.
 *   `stallCount` limits how many connections are stalled (default 1).
 * - cutBeforeDown: drop the link instead of forwarding a server chunk that matches (an answer
 *   that never arrives: the command was carried out, the client cannot know).
 * - delayMs: each chunk is forwarded after this delay (both directions).
 * - spareConnections: the first N connections pass untouched.
 * - holdUp: the first client chunk matching is held until `release` resolves (what another
 *   client does meanwhile, say a message expunged, happens between the client's command and
 *   the server's reading it).
 */
import net from 'node:net';

export interface FaultOptions {
  /** A client line matching this starts the count on that connection. Default: any line. */
  trigger?: RegExp;
  /** Which bytes count: server → client ('down', FETCH/RETR) or client → server ('up', APPEND). */
  direction?: 'down' | 'up';
  cutAfterBytes?: number;
  /**
   * Count from each client line matching `trigger` again, not only from the first on the
   * connection: each command gets its `cutAfterBytes` (a FETCH of one message is never cut, one of
   * many is), so the cuts do not depend on which pooled connection a command was sent on.
   */
  recount?: boolean;
  /** Stop cutting after this many cuts (default: never stop). */
  maxCuts?: number;
  stallAfterBytes?: number;
  stallCount?: number;
  /** Drop the connection instead of forwarding a server chunk that matches (counts as a cut). */
  cutBeforeDown?: RegExp;
  delayMs?: number;
  /** The first N connections are never faulted (a job's control connection, say). */
  spareConnections?: number;
  /** Count every client line matching this (see `watched`), whatever the faults. */
  watch?: RegExp;
  /** More client-line counters, by name (see `tallied`). */
  tally?: Record<string, RegExp>;
  /** Hold the first client chunk matching `match` (on any connection) until `release` resolves. */
  holdUp?: { match: RegExp; release: () => Promise<void> };
}

export class FaultProxy {
  readonly host = '127.0.0.1';
  port = 0;
  cuts = 0;
  stalls = 0;
  connections = 0;
  /** Connections seen with the trigger line. */
  triggered = 0;
  /** Client lines seen matching `watch`. */
  watched = 0;
  /** Client lines seen matching each `tally` pattern. */
  tallied: Record<string, number> = {};
  /** The `holdUp` chunk was held (and, once `release` resolved, forwarded). */
  held = false;
  opts: FaultOptions;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly target: { host: string; port: number },
    opts: FaultOptions,
  ) {
    this.opts = opts;
    this.server = net.createServer((c) => this.onClient(c));
  }

  static async start(target: { host: string; port: number }, opts: FaultOptions = {}): Promise<FaultProxy> {
    const p = new FaultProxy(target, opts);
    await new Promise<void>((res) => p.server.listen(0, '127.0.0.1', res));
    p.port = (p.server.address() as net.AddressInfo).port;
    return p;
  }

  private onClient(client: net.Socket): void {
    const spared = ++this.connections <= (this.opts.spareConnections ?? 0);
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(client).add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let counting = false;
    let counted = 0;
    let stalled = false;
    let dead = false;
    /** Cut: the partial bytes are on their way and the link drops; nothing after them may pass. */
    let doomed = false;
    let lineBuf = '';
    const kill = () => {
      if (dead) return;
      dead = true;
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', kill).on('close', kill);
    upstream.on('error', kill).on('close', kill);

    const forward = (chunk: Buffer, to: net.Socket, dir: 'down' | 'up') => {
      // A chunk that arrives between a cut and the drop is never sent: a broken link loses the
      // tail of a stream, it does not skip a piece of it and carry on.
      if (dead || stalled || doomed) return;
      const o = this.opts;
      let out = chunk;
      let cut = false;
      if (counting && dir === 'down' && o.cutBeforeDown && (o.maxCuts === undefined || this.cuts < o.maxCuts) && o.cutBeforeDown.test(chunk.toString('latin1'))) {
        this.cuts++;
        kill();
        return;
      }
      if (counting && (o.direction ?? 'down') === dir) {
        const room = (o.cutAfterBytes ?? Infinity) - counted;
        const stallRoom = (o.stallAfterBytes ?? Infinity) - counted;
        if (o.cutAfterBytes !== undefined && (o.maxCuts === undefined || this.cuts < o.maxCuts) && out.length >= room) {
          out = out.subarray(0, Math.max(0, room));
          cut = true;
          doomed = true;
        } else if (o.stallAfterBytes !== undefined && this.stalls < (o.stallCount ?? 1) && out.length >= stallRoom) {
          out = out.subarray(0, Math.max(0, stallRoom));
          stalled = true;
          this.stalls++;
        }
        counted += out.length;
      }
      const send = () => {
        if (dead) return;
        if (out.length > 0) to.write(out);
        if (cut) {
          this.cuts++;
          // Let the partial bytes leave, then drop the connection like a broken link.
          setImmediate(kill);
        }
      };
      if (o.delayMs) setTimeout(send, o.delayMs);
      else send();
    };

    let watchBuf = '';
    /** Client chunks wait here, in order, while a held one waits for its release. */
    let upstreamTurn = Promise.resolve();
    const onUp = (chunk: Buffer) => {
      if (this.opts.watch || this.opts.tally) {
        const lines = (watchBuf + chunk.toString('latin1')).split('\n');
        watchBuf = lines.pop()!.slice(-4096);
        for (const l of lines) {
          if (this.opts.watch?.test(l)) this.watched++;
          for (const [name, re] of Object.entries(this.opts.tally ?? {})) if (re.test(l)) this.tallied[name] = (this.tallied[name] ?? 0) + 1;
        }
      }
      if ((!counting || this.opts.recount) && !spared) {
        // The whole chunk is searched (a command and its non-synchronizing literals come as one),
        // with the tail of the previous ones for a trigger split across chunks.
        const text = lineBuf + chunk.toString('latin1');
        lineBuf = text.slice(-4096);
        const trigger = this.opts.trigger;
        if (!trigger || trigger.test(text)) {
          counting = true;
          counted = 0;
          this.triggered++;
          lineBuf = '';
        }
      }
      forward(chunk, upstream, 'up');
    };
    client.on('data', (chunk: Buffer) => {
      const hold = this.opts.holdUp;
      if (!hold) return onUp(chunk);
      const mine = !this.held && hold.match.test(chunk.toString('latin1'));
      if (mine) this.held = true;
      upstreamTurn = upstreamTurn.then(async () => {
        if (mine) await hold.release();
        onUp(chunk);
      });
    });
    upstream.on('data', (chunk: Buffer) => forward(chunk, client, 'down'));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((res) => this.server.close(() => res()));
  }
}
