// Error codes of a transfer. Faults of the peer or the path are events (`{ type: 'closed', ok: false, code }`),
// not exceptions; only local misuse of the core throws ProtocolMisuseError.

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

export class ProtocolMisuseError extends Error {
  override readonly name = 'ProtocolMisuseError';
  readonly code = 'E_MISUSE' as const;
}

export class TransferError extends Error {
  override readonly name = 'TransferError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
