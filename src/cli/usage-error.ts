// Bad command-line input: one line, exit code 2.
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'E_USAGE' as const;
}
