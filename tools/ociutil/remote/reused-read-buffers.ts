/**
 * Sockets that read into one buffer of their own, for receiving blob bodies without garbage.
 *
 * A plain Node socket allocates a new buffer for every read (64 KiB at most). Pulling 512 MiB makes
 * ~8,000 of them; V8 answers the external memory with a full garbage collection every ~64 MB, and
 * that churn, not HTTP parsing, was most of a pull's CPU time. With `onread`, a socket reads into a
 * buffer we give it instead.
 *
 * The contract that makes reuse safe:
 * - Each read is handed to undici as a view of the socket's buffer, and the socket stops reading
 *   after every read (the callback returns false). undici's parser calls `socket.read()` for the
 *   next chunk, which re-arms reading only after undici has the view, and libuv reads on a later
 *   turn of the event loop. undici parses a chunk synchronously and passes body bytes to the
 *   request's handler as views of it.
 * - So every handler on an agent with these sockets must copy body bytes during `onResponseData`
 *   and never pause the request (a paused parser keeps the rest of a view for later, which the next
 *   read would overwrite). transport.ts's body sink handler is the only user, and it does both.
 * Corruption would not go unnoticed: every blob is checked against its digest.
 *
 * Backpressure works below undici: while the receive gate is closed, `read()` returns what the
 * socket already holds without re-arming, and the socket resumes when the gate opens.
 */
import net from "node:net";
import { Duplex } from "node:stream";
import type { ReceiveGate } from "../util/receive-gate.js";
import type { buildConnector as BuildConnector } from "undici";
import { buildConnector } from "./undici.js";

/** Bigger than the most a loopback or LAN read returns at once, so one read never needs two buffers. */
export const READ_BUFFER_SIZE = 1 << 20;

export function reusedBufferConnector(options: BuildConnector.BuildOptions, gate: ReceiveGate): BuildConnector.connector {
  return (connectOptions, callback) => {
    const buffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
    const onread = {
      buffer,
      callback(this: net.Socket, bytes: number, buf: Uint8Array): boolean {
        this.push(Buffer.from(buf.buffer, buf.byteOffset, bytes));
        return false;
      },
    };
    // A connector per socket: `onread` is a per-socket option, and undici reads options when it builds one.
    const connect = buildConnector({ ...options, onread } as BuildConnector.BuildOptions);
    connect(connectOptions, (...args: Parameters<BuildConnector.Callback>) => {
      const socket = args[1];
      if (socket !== null) obeyGate(socket, gate);
      callback(...args);
    });
  };
}

/** Makes `socket` stop re-arming reads while the gate is closed, and resume when it opens. */
function obeyGate(socket: net.Socket, gate: ReceiveGate): void {
  // The socket's own methods (net.Socket's, or a subclass's such as TLSSocket's, if it has any).
  const read = socket.read;
  const startReading = socket._read;
  const resume = (): void => {
    if (!socket.destroyed) startReading.call(socket, READ_BUFFER_SIZE);
  };
  socket.read = function gatedRead(this: net.Socket, n?: number) {
    if (!gate.closed) return read.call(this, n);
    gate.waitToOpen(this, resume);
    // What the socket already holds, without re-arming reads (net.Socket#read would re-arm).
    return Duplex.prototype.read.call(this, n);
  };
  socket._read = function gatedStartReading(this: net.Socket, n: number) {
    if (!gate.closed) return startReading.call(this, n);
    gate.waitToOpen(this, resume);
  };
  socket.once("close", () => gate.forget(socket));
}
