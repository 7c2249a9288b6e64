// Environment variables for the span of one call: the hostile exec fixtures find their files (pids, logs, the
// server's port) through them, and the lab passes them on because vitest.config.ts names them in UDPLAB_PASS_ENV.

/** Runs `fn` with `vars` set in process.env, then puts back what was there (also when `fn` throws). */
export async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
