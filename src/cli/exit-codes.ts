// Stable exit codes per error code. 0 ok, 1 expectation failed (lab), 2 invalid input/environment,
// then one distinct code per transfer failure so scripts can tell them apart.
const CODES: Record<string, number> = {
  E_USAGE: 2,
  E_BUSY: 11,
  E_ABORTED: 130,
  E_SCENARIO_INVALID: 2,
  E_NETEM_SYNTAX: 2,
  E_DOCKER_UNAVAILABLE: 2,
  E_IMAGE_BUILD: 2,
  E_SHAPER: 2,
  E_RUNTIME: 2,
  E_PREFLIGHT: 2,
  E_UNKNOWN_HOST: 10,
  E_UNREACHABLE: 11,
  E_TIMEOUT: 11,
  E_NOT_FOUND: 12,
  E_PERMISSION: 13,
  E_PATH_OUTSIDE_ROOT: 13,
  E_EXISTS: 14,
  E_DISK_FULL: 15,
  E_AUTH_FAILED: 16,
  E_KEY_CHANGED: 17,
  E_UNKNOWN_KEY: 17,
  E_INTEGRITY: 18,
  E_PROTOCOL: 19,
  E_IO: 20,
  E_STALLED: 21,
};

export function exitCodeFor(code: string): number {
  return CODES[code] ?? 1;
}
