// A minimal CRLF line client for speaking raw IMAP/POP3 in tests (no literals, no parsing).
import net from 'node:net';
import tls from 'node:tls';

export interface LineClientOptions {
  host: string;
  port: number;
  /** Connect with TLS, trusting `ca` (default: Node's root CAs), checking the cert against `servername`. */
  tls?: { ca?: string | Buffer; servername: string };
  timeoutMs?: number;
}

export class LineClient {
  private buf = '';
  private lines: string[] = [];
  private waiter: ((line: string | Error) => void) | undefined;
  private failure: Error | undefined;

  private constructor(readonly socket: net.Socket | tls.TLSSocket) {
    socket.on('data', (b: Buffer) => {
      this.buf += b.toString('latin1');
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.push(this.buf.slice(0, nl).replace(/\r$/, ''));
        this.buf = this.buf.slice(nl + 1);
      }
    });
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static connect(opts: LineClientOptions): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? 10_000;
      const sock = opts.tls
        ? tls.connect({ host: opts.host, port: opts.port, ca: opts.tls.ca, servername: opts.tls.servername })
        : net.connect({ host: opts.host, port: opts.port });
      const client = new LineClient(sock);
      sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      sock.once('error', reject);
      sock.once(opts.tls ? 'secureConnect' : 'connect', () => {
        sock.off('error', reject);
        resolve(client);
      });
    });
  }

  private push(line: string): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(line);
    } else {
      this.lines.push(line);
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(e);
  }

  readLine(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = (l) => (l instanceof Error ? reject(l) : resolve(l));
    });
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`, 'latin1');
  }

  /** IMAP: send `${tag} ${command}`, return every line up to and including the tagged one. */
  async imap(tag: string, command: string): Promise<string[]> {
    this.send(`${tag} ${command}`);
    const out: string[] = [];
    for (;;) {
      const line = await this.readLine();
      out.push(line);
      if (line.startsWith(`${tag} `)) return out;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
