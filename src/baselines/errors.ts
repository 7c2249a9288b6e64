// Errors of the baselines (naive, tftp, tcp): a stable code, a human message, the cause chained.
export type BaselineErrorCode =
  | 'E_STALLED'
  | 'E_TIMEOUT'
  | 'E_PROTOCOL'
  | 'E_NOT_FOUND'
  | 'E_PERMISSION'
  | 'E_EXISTS'
  | 'E_DISK_FULL'
  | 'E_PATH_OUTSIDE_ROOT'
  | 'E_INTEGRITY'
  | 'E_IO';

export class BaselineError extends Error {
  constructor(
    readonly code: BaselineErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BaselineError';
  }
}
