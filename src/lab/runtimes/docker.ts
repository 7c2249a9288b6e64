// Docker runtime plumbing: the udplab image, an `internal` labelled network,
// labelled containers with NET_ADMIN, and a sweep of leftovers from crashed runs.
// Rules: every object carries `udplab=1` plus `udplab.owner=<pid>`; the sweep removes
// only objects whose owner process is gone, so concurrent runs never tear down each other.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GenericContainer, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { LabError } from '../errors.js';

const exec = promisify(execFile);

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= 'localhost';

export const LABEL = 'udplab';
export const OFFLINE_BASE = 'udplab/base:local';
export const REGISTRY_BASE = 'node:24-bookworm-slim';
export const IMAGE_TAG = 'udplab/udplab:local';

export function labels(): Record<string, string> {
  return { [LABEL]: '1', 'udplab.owner': String(process.pid) };
}

/**
 * The package root (where bin/udplab.js lives), from dist/ or src/: in a clone and in the udplab image (/app, which
 * has no lab/Dockerfile), so the local and netns runtimes also run inside a container (a swarm task's shard).
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'bin', 'udplab.js'))) {
    const up = dirname(dir);
    if (up === dir) throw new LabError('E_RUNTIME', 'cannot find bin/udplab.js above the udplab module');
    dir = up;
  }
  return resolve(dir);
}

/** The repository root (where lab/Dockerfile lives), from dist/ or src/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'lab', 'Dockerfile'))) {
    const up = dirname(dir);
    if (up === dir) throw new LabError('E_RUNTIME', 'cannot find lab/Dockerfile above the udplab module');
    dir = up;
  }
  return resolve(dir);
}

async function docker(args: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await exec('docker', args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout;
}

/** True when a Docker engine answers. */
export async function dockerAvailable(): Promise<boolean> {
  try {
    await docker(['info', '--format', '{{.ServerVersion}}'], 10_000);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the lab process that owns a labelled object still runs. EPERM (a process of another user: another user's
 * lab on this machine) is alive — only ESRCH is gone; sweeping on EPERM removed another user's running lab.
 */
export function ownerAlive(
  owner: string | undefined,
  kill: (pid: number, signal: 0) => void = (pid, signal) => process.kill(pid, signal),
): boolean {
  const pid = Number(owner);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes containers and networks labelled udplab=1 whose owner process is gone. Returns what it removed.
 * Only objects carrying `udplab.owner` are the lab's: the compose set-up (docker-compose.yml) and `docker run` of
 * the image (whose LABEL is udplab=1) have none and are left alone, running or not.
 */
export async function sweepLeftovers(): Promise<{ containers: number; networks: number }> {
  const removed = { containers: 0, networks: 0 };
  const fmt = '{{.ID}} {{.Label "udplab.owner"}}';
  const owned = ['--filter', `label=${LABEL}=1`, '--filter', 'label=udplab.owner'];
  const cs = (await docker(['ps', '-a', ...owned, '--format', fmt])).trim();
  for (const line of cs ? cs.split('\n') : []) {
    const [id, owner] = line.split(' ');
    if (id && !ownerAlive(owner)) {
      await docker(['rm', '-f', '-v', id]).catch(() => undefined);
      removed.containers++;
    }
  }
  const ns = (await docker(['network', 'ls', ...owned, '--format', fmt])).trim();
  for (const line of ns ? ns.split('\n') : []) {
    const [id, owner] = line.split(' ');
    if (id && !ownerAlive(owner)) {
      await docker(['network', 'rm', id]).catch(() => undefined);
      removed.networks++;
    }
  }
  return removed;
}

let imagePromise: Promise<string> | undefined;

/**
 * Builds the udplab image from lab/Dockerfile on the offline base when present, else on the registry base.
 * With UDPLAB_IMAGE set, uses that image as it is and builds nothing (the VM lane loads a pre-built one: a build
 * under TCG takes minutes); it must exist.
 */
export function buildImage(): Promise<string> {
  imagePromise ??= (async () => {
    const given = process.env.UDPLAB_IMAGE;
    if (given) {
      await docker(['image', 'inspect', given]).catch((err: unknown) => {
        imagePromise = undefined;
        throw new LabError('E_IMAGE_BUILD', `UDPLAB_IMAGE=${given}: no such image in this Docker engine`, {
          cause: err,
        });
      });
      return given;
    }
    const hasOffline = await docker(['image', 'inspect', OFFLINE_BASE]).then(
      () => true,
      () => false,
    );
    const base = process.env.UDPLAB_BASE_IMAGE ?? (hasOffline ? OFFLINE_BASE : REGISTRY_BASE);
    const root = repoRoot();
    if (!existsSync(join(root, 'dist', 'src', 'cli', 'index.js'))) {
      throw new LabError('E_IMAGE_BUILD', `no compiled CLI in ${root}/dist: run \`npm run build\` first`);
    }
    try {
      await GenericContainer.fromDockerfile(root, 'lab/Dockerfile')
        .withBuildArgs({ BASE_IMAGE: base })
        .withCache(true)
        .build(IMAGE_TAG, { deleteOnExit: false });
    } catch (err) {
      imagePromise = undefined;
      throw new LabError(
        'E_IMAGE_BUILD',
        `building ${IMAGE_TAG} from lab/Dockerfile on ${base} failed${base === REGISTRY_BASE ? ' (no registry? build the offline base: node lab/base/build.mjs)' : ''}`,
        { cause: err },
      );
    }
    return IMAGE_TAG;
  })();
  return imagePromise;
}

export interface LabNetwork {
  readonly name: string;
  /** `ip: 6`: the network's IPv6 subnet (a ULA /64); undefined on an IPv4-only network */
  readonly subnet6?: string;
  remove(): Promise<void>;
}

/**
 * A unique local /64 (RFC 4193: fd00::/8, a 40-bit global ID, subnet 0) from 5 random bytes:
 * `fd12:3456:789a::/64`. One per lab, so concurrent labs' IPv6 networks never overlap.
 */
export function ulaSubnet(id: Uint8Array = randomBytes(5)): string {
  if (id.length !== 5) throw new RangeError(`a ULA global ID is 5 bytes, not ${id.length}`);
  const h = (a: number, b: number) => ((a << 8) | b).toString(16);
  return `fd${id[0]!.toString(16).padStart(2, '0')}:${h(id[1]!, id[2]!)}:${h(id[3]!, id[4]!)}::/64`;
}

export interface NetworkOptions {
  /** 6: also an IPv6 subnet (`--ipv6 --subnet`); the engine picks the IPv4 one as for any network */
  ip?: 4 | 6;
  /** the IPv6 subnet; a fresh ULA /64 unless given */
  subnet6?: string;
}

/** Creates an `internal` (no route out) bridge network labelled udplab=1; with `ip: 6` dual-stack. */
export async function createInternalNetwork(prefix = 'udplab', opts: NetworkOptions = {}): Promise<LabNetwork> {
  const client = await getContainerRuntimeClient();
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
  const subnet6 = opts.ip === 6 ? (opts.subnet6 ?? ulaSubnet()) : undefined;
  let net: Awaited<ReturnType<typeof client.network.create>>;
  try {
    net = await client.network.create({
      Name: name,
      Driver: 'bridge',
      Internal: true,
      CheckDuplicate: true,
      Labels: labels(),
      ...(subnet6 !== undefined && { EnableIPv6: true, IPAM: { Driver: 'default', Config: [{ Subnet: subnet6 }] } }),
    });
  } catch (err) {
    if (subnet6 === undefined) throw err;
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new LabError(
      'E_RUNTIME',
      `ip: 6: the Docker engine cannot create an IPv6 network (docker network create --ipv6 --subnet ${subnet6} ${name}): ${why}`,
      { cause: err },
    );
  }
  return {
    name,
    ...(subnet6 !== undefined && { subnet6 }),
    remove: async () => {
      await client.network.remove(net).catch(() => undefined);
    },
  };
}

/** A container's IPv6 address on `network`, as the engine reports it (`docker inspect`); one line if none. */
export async function containerIPv6(id: string, network: LabNetwork, role: string): Promise<string> {
  const fmt = `{{with index .NetworkSettings.Networks ${JSON.stringify(network.name)}}}{{.GlobalIPv6Address}}{{end}}`;
  const addr = (await docker(['inspect', '--format', fmt, id])).trim();
  if (!addr)
    throw new LabError('E_RUNTIME', `ip: 6: the ${role} container has no IPv6 address on network ${network.name}`);
  return addr;
}

/**
 * What the docker runtime needs of one of its containers — its ID (it is entered as a `ContainerHost`, host.ts), its
 * address on the lab network, and its removal: a testcontainers container, or (the swarm runtime) a swarm task's
 * container.
 */
export interface LabNode {
  getId(): string;
  getIpAddress(network: string): string;
  stop(opts?: { timeout?: number; remove?: boolean; removeVolumes?: boolean }): Promise<unknown>;
}

export interface StartOptions {
  network: LabNetwork;
  name: string;
  tmpfs?: Record<string, string>;
}

/** Starts one udplab container on `network` with NET_ADMIN, labelled. */
export async function startNode(opts: StartOptions): Promise<StartedTestContainer> {
  const image = await buildImage();
  let c = new GenericContainer(image)
    .withNetworkMode(opts.network.name)
    .withLabels({ ...labels(), 'udplab.role': opts.name })
    .withAddedCapabilities('NET_ADMIN')
    .withStartupTimeout(30_000);
  if (opts.tmpfs) c = c.withTmpFs(opts.tmpfs);
  return c.start();
}

/** Stops containers (timeout 0) and removes the network; never throws. */
export async function teardown(containers: Array<LabNode | undefined>, network?: LabNetwork): Promise<void> {
  await Promise.all(
    containers.map((c) => c?.stop({ timeout: 0, remove: true, removeVolumes: true }).catch(() => undefined)),
  );
  await network?.remove();
}
