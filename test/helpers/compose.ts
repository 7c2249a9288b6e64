// Gate for compose tests: a compose client (Debian's docker-compose 1.29, or the `docker compose` v2 plugin) and
// an engine. Without either they are skipped with a visible notice, unless LAB_REQUIRE_DOCKER=1 (then they fail).
import { spawnSync } from 'node:child_process';
import { dockerUp, requireDocker } from './docker.js';

function findCompose(): string[] | undefined {
  for (const cmd of [['docker-compose'], ['docker', 'compose']]) {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0) return cmd;
  }
  return undefined;
}

/** The compose command (argv prefix), when one answers. */
export const composeCommand = findCompose();

if ((!dockerUp || !composeCommand) && !requireDocker) {
  console.warn(
    `NOTICE: ${dockerUp ? 'no compose client (docker-compose or docker compose)' : 'no Docker engine answers'}: compose tests are skipped (set LAB_REQUIRE_DOCKER=1 to fail instead)`,
  );
}

export const runCompose = (dockerUp && composeCommand !== undefined) || requireDocker;
