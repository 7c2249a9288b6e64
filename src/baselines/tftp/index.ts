// Public face of the TFTP baseline: packets, options, server, client.
export { type BlockParams, unwrapBlock } from './blocks.js';
export { type TftpClientOptions, type TftpResult, tftpGet, tftpPut } from './client.js';
export { NetasciiDecoder, netasciiEncode } from './netascii.js';
export { acceptOack, MAX_BLKSIZE, negotiateServer, requestOptions } from './options.js';
export { decodeTftp, ERR, encodeTftp, OP, type TftpMode, type TftpPacket } from './packet.js';
export { type RunningTftpServer, type TftpServeOptions, type TftpSessionLog, tftpServe } from './server.js';
