// The image protocol's docker argv (docs/endpoints.md, "On the docker runtime"): building an implementation's image,
// its server container, a client container per run, and the sidecar that watches the server's port. Argv arrays
// only (never a shell); every container carries the labels udplab=1 + owner and its role.
import { LabError } from '../errors.js';
import type { ImageSpec } from '../protocols/types.js';
import { labels } from './docker.js';

/** The offline Python base (node lab/base/build.mjs --python) that implementations' Dockerfiles get as BASE. */
export const IMPL_BASE = 'udplab/python:local';
/** Where the server finds the test file ({root}, a read-only bind mount) and the client writes ({local}). */
export const ROOT_IN = '/udplab/root';
export const OUT_IN = '/udplab/out';

/** One implementation, as the docker runtime runs it: its label, and the image protocol's spec (image, build, argv). */
export type ImageEndpointSpec = ImageSpec & { label: string };

/** `docker build` argv of an implementation folder (legacy builder: no BuildKit here; labelled udplab=1). */
export function buildArgv(dir: string, tag: string, base = process.env.UDPLAB_IMPL_BASE ?? IMPL_BASE): string[] {
  return ['build', '--quiet', '--build-arg', `BASE=${base}`, '--label', 'udplab=1', '-t', tag, dir];
}

/** Replaces `{name}` placeholders in each argv element (never through a shell); unknown ones are an error. */
export function template(argv: string[], values: Record<string, string>, what: string): string[] {
  return argv.map((a) =>
    a.replace(/\{([a-z]+)\}/g, (m, k: string) => {
      const v = values[k];
      if (v === undefined) throw new LabError('E_SCENARIO_INVALID', `${what}: unknown placeholder ${m} in "${a}"`);
      return v;
    }),
  );
}

/** The environment of the contract: UDPLAB_BIND … UDPLAB_SEED, as `-e` pairs for docker run. */
export function envArgs(values: Record<string, string>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['-e', `UDPLAB_${k.toUpperCase()}=${v}`]);
}

/** `docker run -d` argv of the implementation's server: on NETWORK, the test file's folder read-only at {root}. */
export function serverRunArgv(o: {
  spec: ImageEndpointSpec;
  name: string;
  network: string;
  port: number;
  rootDir: string;
  seed: number;
}): string[] {
  const values = { bind: '0.0.0.0', port: String(o.port), root: ROOT_IN };
  return [
    'run',
    '-d',
    '--name',
    o.name,
    '--network',
    o.network,
    ...labelArgs('server'),
    '-v',
    `${o.rootDir}:${ROOT_IN}:ro`,
    ...envArgs({ ...values, seed: String(o.seed) }),
    o.spec.image,
    ...template(o.spec.server, values, `${o.spec.label} server`),
  ];
}

/** `docker run -d` argv of one client run: in the holder's network namespace, {local} in a bind-mounted folder. */
export function clientRunArgv(o: {
  spec: ImageEndpointSpec;
  name: string;
  holder: string;
  host: string;
  port: number;
  remote: string;
  outDir: string;
  local: string;
  seed: number;
  user?: string;
}): string[] {
  const values = { host: o.host, port: String(o.port), remote: o.remote, local: `${OUT_IN}/${o.local}` };
  return [
    'run',
    '-d',
    '--name',
    o.name,
    '--network',
    `container:${o.holder}`,
    ...labelArgs('client'),
    ...(o.user ? ['--user', o.user] : []),
    '-v',
    `${o.outDir}:${OUT_IN}`,
    ...envArgs({ ...values, seed: String(o.seed) }),
    o.spec.image,
    ...template(o.spec.client, values, `${o.spec.label} client`),
  ];
}

export function labelArgs(role: string): string[] {
  const all = { ...labels(), 'udplab.role': role };
  return Object.entries(all).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

/**
 * node -e PORTCHECK PORT TRANSPORT MS: exits 0 once PORT is bound in this network namespace (/proc/net/udp, udp6;
 * for tcp a LISTEN socket), 1 after MS. Run in a sidecar that shares the server's network namespace.
 */
export const PORTCHECK = `const fs=require('fs');const [p,t,ms]=process.argv.slice(1);
const hex=':'+Number(p).toString(16).toUpperCase().padStart(4,'0');const end=Date.now()+Number(ms);
const bound=()=>[t,t+'6'].some(f=>{try{return fs.readFileSync('/proc/net/'+f,'utf8').split('\\n').slice(1)
.some(l=>{const c=l.trim().split(/\\s+/);return c[1]&&c[1].endsWith(hex)&&(t==='udp'||c[3]==='0A')})}catch{return false}});
(function poll(){if(bound())process.exit(0);if(Date.now()>end)process.exit(1);setTimeout(poll,50)})()`;

/** The sidecar argv that waits for the port (in container:ID's network namespace, no capabilities needed). */
export function portCheckArgv(id: string, name: string, image: string, port: number, transport: string, ms: number) {
  return [
    'run',
    '--rm',
    '--name',
    name,
    '--network',
    `container:${id}`,
    ...labelArgs('sidecar'),
    image,
    'node',
    '-e',
    PORTCHECK,
    String(port),
    transport,
    String(ms),
  ];
}
