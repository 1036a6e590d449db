/**
 * A server that keeps a connection busy with a trickle — a byte now and then, never the end of an
 * answer — would hold a run for ever: the idle-read timeout restarts at every byte. Watched in
 * windows of that timeout: a connection that receives, in WINDOWS windows in a row, less than
 * MIN_BYTES in MIN_CHUNKS pieces or more is cut. Silence (an idle pooled connection, a server
 * thinking) is the idle timeout's business; a short answer or a keep-alive now and then (one
 * piece) and an answer that keeps coming are never cut. A server that sends a byte once or twice
 * per window is not caught.
 */
import type { Socket } from 'node:net';

const MIN_BYTES = 512;
const WINDOWS = 3;
const MIN_CHUNKS = 3;

/** Calls `onTrickle` once when `socket` trickles; returns a function that stops watching. */
export function watchTrickle(socket: Socket, windowMs: number, onTrickle: (seconds: number) => void): () => void {
  let bytes = 0;
  let chunks = 0;
  let slow = 0;
  const onData = (d: Buffer) => void ((bytes += d.length), chunks++);
  const timer = setInterval(() => {
    slow = chunks >= MIN_CHUNKS && bytes < MIN_BYTES ? slow + 1 : 0;
    bytes = 0;
    chunks = 0;
    if (slow >= WINDOWS) {
      stop();
      onTrickle(Math.round((WINDOWS * windowMs) / 1000));
    }
  }, windowMs).unref();
  const stop = () => {
    clearInterval(timer);
    socket.off('data', onData);
    socket.off('close', stop);
  };
  socket.on('data', onData);
  socket.once('close', stop);
  return stop;
}
