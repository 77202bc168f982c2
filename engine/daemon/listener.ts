/**
 * tsnetd's API socket speaks two protocols: HTTP (docs/api.md) and the CNI wire of the
 * compiled shim (cni.ts). A connection's first byte decides: NUL never starts an HTTP request.
 * HTTP connections are handed to `api` with their first bytes put back; `api` never listens
 * itself, but hears this server's 'listening' (which starts its request/headers timeout
 * checks). The caller closes this server, and `api` (its connections and that check).
 */
import net from 'node:net';
import type http from 'node:http';

export function createApiListener(api: http.Server, wire: (socket: net.Socket, first: Buffer) => void): net.Server {
  // allowHalfOpen as http.Server has: a client may end its side and still read the answer.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    // Until the first byte, this server owns the socket: a client that leaves early is closed.
    const onEnd = (): void => void socket.end();
    const onError = (): void => void socket.destroy();
    socket.once('end', onEnd).once('error', onError);
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.off('end', onEnd).off('error', onError);
      if (first[0] === 0) return wire(socket, first);
      socket.unshift(first);
      api.emit('connection', socket);
      socket.resume();
    });
  });
  server.on('listening', () => api.emit('listening'));
  return server;
}
