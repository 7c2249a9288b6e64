// Errors of the lab: a stable `code`, a human message, `cause` chained.
// The CLI maps codes to exit codes (design §5: 2 = scenario or environment invalid).

export type LabErrorCode =
  | 'E_SCENARIO_INVALID'
  | 'E_DOCKER_UNAVAILABLE'
  | 'E_IMAGE_BUILD'
  | 'E_SHAPER'
  | 'E_RUNTIME'
  /** The host would change the scenario's lesson (a capped buffer, no tcpdump): `udplab doctor` says more. */
  | 'E_PREFLIGHT';

export class LabError extends Error {
  override readonly name = 'LabError';
  constructor(
    readonly code: LabErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
