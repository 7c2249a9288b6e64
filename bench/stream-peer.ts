// The bench's peers that a Node user would pick instead of RUFT: reliable, congestion-controlled streams over UDP
// from npm, in C behind N-API, unencrypted. One process serves a file, another fetches it (the way the bench runs
// udplab's own server and client), over loopback or through the userspace relay.
//   node dist/bench/stream-peer.js udx|utp serve FILE          → prints {"port":N}, serves every client until SIGTERM
//   node dist/bench/stream-peer.js udx|utp get PORT DEST [TIMEOUT_S] → prints {"bytes":…,"ms":…}
// udx-native: the client sends a plain datagram naming its stream id (every 200 ms until data arrives, at most
// 50 times: it may be lost on a lossy link), the server connects stream id+1 back to the datagram's source and
// writes the file. utp-native (libutp): net-like, the client connects, the server writes the file and ends (libutp reports a
// connection with its first data, so the client first writes one byte).
// The clock runs from the client's first packet to the last byte on disk, as a RUFT client's duration does.
import { createReadStream, createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';

interface UdxSocket {
  bind(port: number, host: string): void;
  address(): { port: number };
  send(buf: Buffer, port: number, host: string): Promise<unknown>;
  on(ev: 'message', f: (m: Buffer, from: { host: string; port: number }) => void): void;
  close(): Promise<void>;
}
interface UdxStream extends Duplex {
  connect(socket: UdxSocket, remoteId: number, port: number, host: string): void;
}
interface Udx {
  createSocket(): UdxSocket;
  createStream(id: number): UdxStream;
}
interface UtpServer {
  listen(port: number, host: string, f: () => void): void;
  address(): { port: number };
}
interface Utp {
  createServer(f: (s: Duplex) => void): UtpServer;
  connect(port: number, host: string): Duplex;
}

const require = createRequire(import.meta.url);

/** Loads the peer's npm package, or says in one line why it cannot (it is an optional dependency). */
export function loadPeer(kind: 'udx' | 'utp'): { udx: new () => Udx } | { utp: Utp } | { why: string } {
  const pkg = kind === 'udx' ? 'udx-native' : 'utp-native';
  try {
    return kind === 'udx' ? { udx: require(pkg) as new () => Udx } : { utp: require(pkg) as Utp };
  } catch (e) {
    return { why: `${pkg} did not load (npm install ${pkg}): ${String((e as Error).message).split('\n')[0]}` };
  }
}

const HOST = '127.0.0.1';

function fail(msg: string): never {
  console.error(`stream-peer: ${msg}`);
  process.exit(1);
}

function serveUdx(U: new () => Udx, file: string): void {
  const u = new U();
  const sock = u.createSocket();
  sock.bind(0, HOST);
  const seen = new Set<string>();
  sock.on('message', (m, from) => {
    if (m.length !== 4) return;
    const id = m.readUInt32BE(0);
    const key = `${from.host}:${from.port}:${id}`;
    if (seen.has(key)) return;
    seen.add(key);
    const s = u.createStream((id + 1) >>> 0);
    s.connect(sock, id, from.port, from.host);
    s.on('error', () => s.destroy());
    s.resume(); // nothing comes back but the end
    createReadStream(file).pipe(s);
  });
  console.log(JSON.stringify({ port: sock.address().port }));
}

function serveUtp(utp: Utp, file: string): void {
  const server = utp.createServer((s) => {
    s.on('error', () => s.destroy());
    s.resume();
    createReadStream(file).pipe(s);
  });
  server.listen(0, HOST, () => console.log(JSON.stringify({ port: server.address().port })));
}

/** Pipes `s` into DEST; resolves with the bytes once they are on disk. */
function receive(s: Duplex, dest: string): Promise<number> {
  return new Promise((ok, no) => {
    let bytes = 0;
    s.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    const out = createWriteStream(dest);
    s.on('error', no);
    out.on('error', no);
    out.on('finish', () => ok(bytes));
    s.pipe(out);
  });
}

async function getUdx(U: new () => Udx, port: number, dest: string): Promise<number> {
  const u = new U();
  const sock = u.createSocket();
  sock.bind(0, HOST);
  const id = (Math.random() * 0xfffffff0) >>> 0;
  const s = u.createStream(id);
  s.connect(sock, (id + 1) >>> 0, port, HOST);
  const hello = Buffer.alloc(4);
  hello.writeUInt32BE(id, 0);
  let tries = 0;
  let got = false;
  s.once('data', () => {
    got = true;
  });
  const again = setInterval(() => {
    if (got) return clearInterval(again);
    if (++tries > 50) fail(`udx: no data after 50 hellos to ${HOST}:${port}`);
    void sock.send(hello, port, HOST);
  }, 200);
  void sock.send(hello, port, HOST);
  const bytes = await receive(s, dest);
  clearInterval(again);
  s.end();
  return bytes;
}

/** libutp tells the server of a connection when its first data arrives: the client asks with one byte. */
function getUtp(utp: Utp, port: number, dest: string): Promise<number> {
  const s = utp.connect(port, HOST);
  s.write(Buffer.from('g'));
  return receive(s, dest);
}

async function main(): Promise<void> {
  const [kind, role, a, b, timeoutS = '600'] = process.argv.slice(2);
  if ((kind !== 'udx' && kind !== 'utp') || (role !== 'serve' && role !== 'get') || !a || (role === 'get' && !b))
    fail('usage: stream-peer.js udx|utp serve FILE | get PORT DEST [TIMEOUT_S]');
  const peer = loadPeer(kind);
  if ('why' in peer) fail(peer.why);
  if (role === 'serve') {
    if ('udx' in peer) serveUdx(peer.udx, a);
    else serveUtp(peer.utp, a);
    process.on('SIGTERM', () => process.exit(0));
    return;
  }
  setTimeout(() => fail(`${kind}: the transfer did not finish in ${timeoutS} s`), Number(timeoutS) * 1000).unref();
  const port = Number(a);
  const t0 = performance.now();
  const bytes = 'udx' in peer ? await getUdx(peer.udx, port, b!) : await getUtp(peer.utp, port, b!);
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ bytes, ms }));
  process.exit(0);
}

const isMain = process.argv[1]?.endsWith('stream-peer.js');
if (isMain) await main().catch((e: Error) => fail(`${process.argv[2]}: ${e.message}`));
