// Node's own HTTP on ferry sockets, with no change to Node's HTTP code:
//   - server side: accepted ferry Sockets are handed to an http.Server with
//     `httpServer.emit('connection', socket)` (the documented way to inject a stream);
//   - client side: an http.Agent whose createConnection opens a ferry Socket, so keep-alive
//     pooling, request queueing and socket reuse are Node's.

import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Host } from './driver.ts';
import type { Server, ServerOptions, Socket } from './net.ts';

/**
 * Serve `httpServer` on `host` at `port` (address: every address of the host unless given).
 * Returns the ferry Server; 'listening' and 'error' (EADDRINUSE) are emitted on it.
 */
export function serveHttp(host: Host, httpServer: http.Server, port: number, address?: string, options: ServerOptions = {}): Server {
  // Node's http.Server is a net.Server created with allowHalfOpen: true; keep that so a
  // client's half-close does not cut a response short.
  const server = host.createServer({ allowHalfOpen: true, noDelay: true, ...options }, (s: Socket) => {
    httpServer.emit('connection', s);
  });
  server.listen(port, address);
  return server;
}

export interface FerryAgentOptions extends http.AgentOptions {
  /** Local address for outgoing connections (default: the stack picks). */
  localAddress?: string;
}

/**
 * An http.Agent whose connections are ferry Sockets on `host`. The request's `host` must be
 * an address (no name resolution in ferry).
 */
export class FerryAgent extends http.Agent {
  readonly ferryHost: Host;
  private readonly localAddr: string | undefined;

  constructor(host: Host, options: FerryAgentOptions = {}) {
    super(options);
    this.ferryHost = host;
    this.localAddr = options.localAddress;
  }

  // http.Agent calls this for every new connection; a returned socket is used as is.
  override createConnection(options: http.ClientRequestArgs, _cb?: (err: Error | null, stream: Duplex) => void): Socket {
    const remote = options.hostname ?? options.host ?? '';
    const port = Number(options.port ?? 80);
    return this.ferryHost.connect({ host: remote, port, ...(this.localAddr ? { localAddress: this.localAddr } : {}) });
  }
}
