// Public face of the baselines: the seminar's naive protocol, TFTP, and a plain TCP copy.
export { BaselineError, type BaselineErrorCode } from './errors.js';
export {
  type NaiveClientOptions,
  type NaiveResult,
  naiveGet,
  naiveServe,
  type RunningNaiveServer,
} from './naive/index.js';
export { type RunningTcpServer, type TcpClientOptions, tcpGet, tcpServe } from './tcp/index.js';
export {
  decodeTftp,
  encodeTftp,
  type RunningTftpServer,
  type TftpClientOptions,
  type TftpResult,
  tftpGet,
  tftpPut,
  tftpServe,
} from './tftp/index.js';
