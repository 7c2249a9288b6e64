// Public face of the TCP baseline: a plain TCP copy, the reference to compare with.
export { type TcpClientOptions, tcpGet } from './client.js';
export { type RunningTcpServer, type TcpServeOptions, tcpServe } from './server.js';
