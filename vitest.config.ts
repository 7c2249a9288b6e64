import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Docker tests share one engine; keep files parallel but bounded.
    maxWorkers: 2,
    // the hostile exec fixtures' files (pids, logs, the server's port): passed on to programs the lab drops to users
    // of their own, which get no other variable of the lab's environment (src/lab/runtimes/exec.ts, programEnv)
    env: { UDPLAB_PASS_ENV: 'FIXTURE_PIDS,FIXTURE_LOG,FIXTURE_PORT_FILE' },
  },
});
