// Error codes of a transfer. Faults of the peer or the path are events (`{ type: 'closed', ok: false, code }`),
// never exceptions; the transport turns them into errors with these codes, and the CLI into exit codes.

export type TransferErrorCode =
  | 'E_TIMEOUT'
  | 'E_UNREACHABLE'
  | 'E_NOT_FOUND'
  | 'E_PERMISSION'
  | 'E_PATH_OUTSIDE_ROOT'
  | 'E_EXISTS'
  | 'E_DISK_FULL'
  | 'E_AUTH_FAILED'
  | 'E_INTEGRITY'
  | 'E_PROTOCOL'
  | 'E_IO'
  | 'E_BUSY'
  | 'E_READ_ONLY'
  | 'E_ABORTED';
