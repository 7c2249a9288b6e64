// File-side errors with stable codes (design §8). Messages say what and where.
export type FileErrorCode =
  | 'E_PATH_OUTSIDE_ROOT'
  | 'E_NOT_FOUND'
  | 'E_PERMISSION'
  | 'E_EXISTS'
  | 'E_BUSY'
  | 'E_DISK_FULL'
  | 'E_IO'
  | 'E_INTEGRITY';

export class FileError extends Error {
  override readonly name = 'FileError';
  constructor(
    readonly code: FileErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Maps a Node fs error to a FileError with a human message naming `what`. */
export function fromFsError(err: unknown, what: string): FileError {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return new FileError('E_NOT_FOUND', `no such file: ${what}`, { cause: err });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new FileError('E_PERMISSION', `permission denied: ${what}`, { cause: err });
    case 'EEXIST':
      return new FileError('E_EXISTS', `already exists: ${what}`, { cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
      return new FileError('E_DISK_FULL', `disk full while writing ${what}`, { cause: err });
    case 'ENOTDIR':
      return new FileError('E_NOT_FOUND', `not a directory: ${what}`, { cause: err });
    case 'EISDIR':
      return new FileError('E_NOT_FOUND', `is a directory, not a file: ${what}`, { cause: err });
    default:
      return new FileError('E_IO', `${e.code ?? 'I/O error'} on ${what}: ${e.message}`, { cause: err });
  }
}
