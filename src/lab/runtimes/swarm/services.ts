// Removing the lab's swarm services for good, shared by the sharded job (`--cluster swarm`) and the swarm runtime.
import { execFile } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { type Engine, engineAt } from './engines.js';

const exec = promisify(execFile);

async function docker(args: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await exec('docker', args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout;
}

/**
 * Removes a service (through this node's engine, a manager's), then its tasks' containers on this node and on the
 * nodes of `engines` (the engines the lab reached the service's task through), until none has been seen for 2 s
 * (bounded: 30 s). Measured on Docker 20.10: a removed job's ended containers stay (none gone 30 s after
 * `docker service rm`), and a task the engine was starting when the service went can still create its container a
 * moment later.
 */
export async function removeService(service: string, engines: Engine[] = []): Promise<void> {
  await docker(['service', 'rm', service]).catch(() => undefined);
  const on = [engineAt(undefined, "this node's engine"), ...engines.filter((e) => e.url !== undefined)];
  const until = Date.now() + 30_000;
  let quietSince = Date.now();
  while (Date.now() < until) {
    let seen = false;
    for (const e of on) {
      const ps = await e
        .run(['ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${service}`], { timeoutMs: 30_000 })
        .catch(() => ({ stdout: '' }));
      const left = ps.stdout.split('\n').filter((l) => l.trim() !== '');
      if (left.length > 0) {
        await e.run(['rm', '-f', '-v', ...left], { timeoutMs: 30_000 }).catch(() => undefined);
        seen = true;
      }
    }
    if (seen) quietSince = Date.now();
    else if (Date.now() - quietSince >= 2_000) return;
    await delay(250);
  }
}

/** Removes an overlay network and waits (bounded: 30 s) until this node no longer lists it: the removal is lazy. */
export async function removeNetwork(name: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const listed = await docker(['network', 'inspect', '--format', '{{.Id}}', name]).then(
      () => true,
      () => false,
    );
    if (!listed) return;
    await docker(['network', 'rm', name]).catch(() => undefined);
    await delay(500);
  }
}
