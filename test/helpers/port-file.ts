// The hostile exec fixtures' way to the server (test/fixtures/endpoints): the fixture server writes "PORT ROOT" (its
// argv, as an attacker reads it) to FIXTURE_PORT_FILE; the `bypass` and `copyroot` clients read it. One server
// at a time, in the scenario's order: the file holds the server of the run whose client reads it. The file is
// writable by all (sharedFile): where the lab is root the programs run as users of their own.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario, runScenario } from '../../src/lab/index.js';
import type { LabResults } from '../../src/report/index.js';
import { withEnv } from './env.js';
import { sharedFile } from './tmp.js';

/** Runs the scenario YAML (written into DIR) on RUNTIME with FIXTURE_PORT_FILE set for its programs, then unset. */
export async function runWithPortFile(dir: string, yaml: string, runtime: 'local' | 'netns'): Promise<LabResults> {
  const file = join(dir, 'bypass.yaml');
  writeFileSync(file, yaml);
  return withEnv({ FIXTURE_PORT_FILE: sharedFile(dir, 'server-port') }, () =>
    runScenario(loadScenario(file), { runtime, shaper: 'auto' }),
  );
}
