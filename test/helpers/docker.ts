// Gate for Docker tests: skipped with a visible notice when no engine answers,
// unless LAB_REQUIRE_DOCKER=1 (set by .ci/run), where a missing engine fails the run.
import { dockerAvailable } from '../../src/lab/index.js';

export const dockerUp = await dockerAvailable();
export const requireDocker = process.env.LAB_REQUIRE_DOCKER === '1';

if (!dockerUp && !requireDocker) {
  console.warn('NOTICE: no Docker engine answers: Docker tests are skipped (set LAB_REQUIRE_DOCKER=1 to fail instead)');
}

/** Whether Docker tests should run (they then fail loudly if the engine is missing). */
export const runDocker = dockerUp || requireDocker;
