// image: a user's implementation in a container image of its own, on the docker runtime (docs/endpoints.md): the
// same argv templates, readiness and verdicts as exec, run by src/lab/runtimes/docker-image.ts — the server in a
// container on the lab's network, a client container per run, shaping by the relay container or by kernel netem
// from sidecars (the image need not contain tc). `build:` (relative to the scenario file) builds the folder's
// Dockerfile on the offline Python base and tags it `image` (default udplab-impl/<label>:local).
import { isAbsolute, resolve } from 'node:path';
import { dirname } from 'node:path/posix';
import { z } from 'zod';
import { fill, implementationFields, readyOf, splitTarget } from './exec.js';
import { common, defineProtocol, type ImageSpec, type Variant } from './types.js';

/** NAME[:TAG] as Docker spells a reference (lower-case path components, an optional registry and tag). */
export const imageRef = z
  .string()
  .regex(
    /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?$/,
    'an image reference NAME[:TAG] (lower case), e.g. udplab-impl/alice:local',
  );

/** The tag an implementation's build gets when it names none. */
export function implTag(label: string): string {
  return `udplab-impl/${label.toLowerCase()}:local`;
}

export const image = defineProtocol({
  name: 'image',
  bare: false,
  schema: z
    .object({
      protocol: z.literal('image'),
      ...common,
      image: imageRef.optional(),
      build: z.string().min(1).optional(),
      ...implementationFields,
    })
    .strict()
    .refine((v) => v.image !== undefined || v.build !== undefined, {
      message: 'an image protocol needs image: NAME[:TAG], or build: FOLDER (a Dockerfile the lab builds)',
    }),
  options(v, { file, ms }) {
    const base = file.startsWith('<') ? process.cwd() : dirname(resolve(file));
    const label = v.label ?? 'image';
    const spec: ImageSpec = {
      image: v.image ?? implTag(label),
      ...(v.build !== undefined && { build: isAbsolute(v.build) ? v.build : resolve(base, v.build) }),
      transport: v.transport,
      server: v.server,
      client: v.client,
      ready: readyOf(v.ready, ms),
      resumable: v.resumable,
    };
    return { image: spec };
  },
  transport: (v) => imageOf(v).transport,
  resumable: (v) => imageOf(v).resumable,
  server: (v) => ({ key: `image-${v.id}`, transport: imageOf(v).transport, args: [], ready: /$^/ }),
  client(v, target, remote, local) {
    const { host, port } = splitTarget(target);
    return fill(imageOf(v).client, { host, port, remote, local });
  },
  outcome: 'file',
  runtimes: ['docker'],
});

export function imageOf(v: Variant): ImageSpec {
  const e = v.options.image;
  if (!e) throw new Error(`${v.id}: not an image protocol`);
  return e;
}
