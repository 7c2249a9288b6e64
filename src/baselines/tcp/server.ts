// `udplab tcp-serve`: the reference every user compares with — a plain TCP stream of the file. The client
// sends one line `GET <name>\n`; the server answers `OK <size>\n` and the bytes, or `ERR <code> <message>\n`.
// Names are resolved inside --root like every udplab server.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { resolveInsideRoot } from '../../files/index.js';

export interface TcpServeOptions {
  root: string;
  host?: string;
  port?: number;
  log?: (line: string) => void;
  /** How long a connection may take to send its request line (default 30 s). */
  requestTimeoutMs?: number;
  /** Once the file is streaming, how long without the kernel taking more of it before the connection is dropped
   * (default 10 min: the whole file may sit in the kernel's send buffer while TCP backs off on a lossy path). */
  streamTimeoutMs?: number;
}

export interface RunningTcpServer {
  port: number;
  address: string;
  close(): Promise<void>;
}

const MAX_LINE_BYTES = 2048;

function readLine(sock: Socket): Promise<string> {
  return new Promise((ok, fail) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(10);
      if (nl >= 0 || buf.length > MAX_LINE_BYTES) {
        sock.off('data', onData);
        sock.pause();
        if (nl < 0) fail(new Error('request line too long'));
        else ok(buf.subarray(0, nl).toString('utf8'));
      }
    };
    sock.on('data', onData);
    sock.once('error', fail);
    sock.once('end', () => fail(new Error('connection closed before the request')));
  });
}

export async function tcpServe(o: TcpServeOptions): Promise<RunningTcpServer> {
  const log = o.log ?? (() => {});
  const conns = new Set<Socket>();
  const server: Server = createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => {});
    sock.setTimeout(o.requestTimeoutMs ?? 30_000, () => sock.destroy());
    void (async () => {
      try {
        const line = await readLine(sock);
        const m = /^GET (.+)$/.exec(line);
        if (!m) return void sock.end('ERR E_PROTOCOL expected "GET <name>"\n');
        let path: string;
        try {
          path = resolveInsideRoot(o.root, m[1]!);
        } catch (e) {
          return void sock.end(`ERR E_PATH_OUTSIDE_ROOT ${(e as Error).message}\n`);
        }
        const st = await stat(path).catch(() => undefined);
        if (!st?.isFile()) return void sock.end(`ERR E_NOT_FOUND no such file: ${m[1]}\n`);
        // Node's idle timer sees writes into the kernel, not bytes the peer acknowledged: once the last write is
        // in, the kernel may go on retransmitting for minutes, and a short timer would cut a live transfer
        sock.setTimeout(o.streamTimeoutMs ?? 600_000);
        sock.write(`OK ${st.size}\n`);
        createReadStream(path, { highWaterMark: 256 * 1024 }).pipe(sock);
      } catch (e) {
        log(`tcp: ${(e as Error).message}`);
        sock.destroy();
      }
    })();
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 4457, o.host ?? '127.0.0.1', () => ok());
  });
  const a = server.address() as { port: number; address: string };
  return {
    port: a.port,
    address: a.address,
    close: () =>
      new Promise<void>((ok) => {
        for (const c of conns) c.destroy();
        server.close(() => ok());
      }),
  };
}
