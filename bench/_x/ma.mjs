import { ImapFlow } from 'imapflow';
import { readdirSync, readFileSync } from 'node:fs';
const [port, user, batch, conns] = [+process.argv[2], process.argv[3], +process.argv[4], +process.argv[5]];
const dir = '/tmp/b7/mf-dovecot-EYgIO0/home/src1/Maildir/cur';
const msgs = readdirSync(dir).map((f) => Buffer.from(readFileSync(`${dir}/${f}`).toString('latin1').replace(/\n/g, '\r\n'), 'latin1'));
const t0 = performance.now();
let next = 0;
async function worker() {
  const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user, pass: 'pass' }, logger: false });
  await c.connect();
  while (next < msgs.length) {
    const items = msgs.slice(next, next + batch); next += items.length;
    if (batch === 1) { await c.append('INBOX', items[0], ['\\Seen'], new Date()); continue; }
    const attrs = [{ type: 'ATOM', value: 'INBOX' }];
    for (const m of items) attrs.push([{ type: 'ATOM', value: '\\Seen' }], { type: 'STRING', value: '01-Jan-2020 00:00:00 +0000' }, { type: 'LITERAL', value: m });
    const r = await c.exec('APPEND', attrs);
    r.next();
  }
  await c.logout();
}
await Promise.all(Array.from({ length: conns }, worker));
console.log(batch, conns, msgs.length, ((performance.now() - t0) / 1000).toFixed(2), 's');
