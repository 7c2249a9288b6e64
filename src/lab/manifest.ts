// Implementation folders (docs/endpoints.md): a folder with a manifest `udplab.yaml` describing how the lab starts
// its server and its client. `udplab lab … --protocols-from DIR` turns each sub-folder of DIR that has one into an
// exec protocol (local and netns runtimes), or with --runtime docker an image protocol (its image:, or the image
// the lab builds from the folder's Dockerfile with build: .). A malformed manifest is ONE error: file:line:col: field: what.
// An implementation runs its own folder's build, tagged by its label only (udplab-impl/<label>:local); `image:` alone
// may name only an image the grader allowed (--allow-image REF): a manifest cannot run another student's image, or
// any image that happens to be on the host, under its own name.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { dockerfileRefusal } from './dockerfile.js';
import { LabError } from './errors.js';
import { implementationFields, READY_HINT } from './protocols/exec.js';
import { implTag } from './protocols/image.js';
import { toVariant, type Variant } from './protocols/index.js';
import { ms } from './units.js';
import { parseYamlFile } from './yaml.js';

export const MANIFEST = 'udplab.yaml';
const LABEL = /^[a-z0-9][a-z0-9._-]*$/;

export const manifestSchema = z
  .object({
    label: z.string().regex(LABEL, 'expected a label of lower-case letters, digits, dot, dash, underscore').optional(),
    description: z.string().optional(),
    ...implementationFields,
    /** docker runtime (protocol image): the image, and whether the lab builds it from the folder's Dockerfile. */
    image: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?$/, 'expected an image NAME[:TAG]')
      .optional(),
    build: z.literal('.').optional(),
  })
  .strict();

export interface Implementation {
  label: string;
  description: string;
  dir: string;
  manifest: string;
  /** The exec protocol that runs it on the local and netns runtimes. */
  variant: Variant;
  /** The image protocol that runs it on the docker runtime, when the manifest says image: and/or build: . */
  imageVariant?: Variant;
  image?: string;
  build: boolean;
}

const HINTS: Record<string, string> = {
  server: 'expected the server\'s argv, e.g. [python3, server.py, "{bind}", "{port}", "{root}"]',
  client: 'expected the client\'s argv, e.g. [python3, client.py, "{host}", "{port}", "{remote}", "{local}"]',
  ready: READY_HINT,
};

export interface ManifestOptions {
  /** images a manifest may name with `image:` and no `build:` (`--allow-image REF`, exact references) */
  allowImages?: readonly string[];
}

/**
 * Why a manifest's `image:` is refused, or undefined: with `build: .` the folder's build is tagged by its label only
 * (another tag could overwrite another implementation's image); without it, the image must be one the grader allowed.
 */
function imageRefused(
  m: { image?: string | undefined; build?: '.' | undefined },
  label: string,
  allow: readonly string[],
): string | undefined {
  if (m.image === undefined) return undefined;
  if (m.build !== undefined)
    return m.image === implTag(label)
      ? undefined
      : `build: . tags this folder's image ${implTag(label)} (its label's); leave out image: ${m.image}`;
  if (allow.includes(m.image)) return undefined;
  return `image ${m.image} is not built from this folder: give build: . (a Dockerfile here), or the grader allows it with --allow-image ${m.image}`;
}

/** Reads DIR/udplab.yaml; throws LabError with file:line:col on the first problem. */
export function loadImplementation(dir: string, o: ManifestOptions = {}): Implementation {
  const file = join(dir, MANIFEST);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new LabError('E_SCENARIO_INVALID', `${file}: cannot read: ${(e as Error).message}`);
  }
  const folderLabel = basename(resolve(dir));
  const schema = manifestSchema.superRefine((m, ctx) => {
    const why = imageRefused(m, m.label ?? folderLabel, o.allowImages ?? []);
    if (why) ctx.addIssue({ code: 'custom', path: ['image'], message: why });
  });
  const m = parseYamlFile(text, file, schema, 'manifest', (where, issue) => {
    const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
    if (missing && HINTS[where]) return `missing: ${HINTS[where]}`;
    if (issue.code === 'invalid_union' && where === 'ready') return HINTS.ready;
    return undefined;
  });
  const label = m.label ?? folderLabel;
  if (!LABEL.test(label))
    throw new LabError(
      'E_SCENARIO_INVALID',
      `${file}:1:1: label: the folder's name "${label}" is not a label ([a-z0-9][a-z0-9._-]*); give one with label:`,
    );
  const variant = toVariant(
    {
      protocol: 'exec',
      label,
      cwd: resolve(dir),
      transport: m.transport,
      server: m.server,
      client: m.client,
      ...(m.ready && { ready: m.ready }),
      resumable: m.resumable,
    },
    { file, ms },
  );
  // docker build takes `Dockerfile`, or `dockerfile` when there is none: each one there is checked
  for (const name of m.build !== undefined ? ['Dockerfile', 'dockerfile'] : []) {
    const dockerfile = join(dir, name);
    if (!existsSync(dockerfile)) continue;
    // a FIFO would hang the read, a folder would throw: a Dockerfile is a regular file (a symlink to one is read)
    if (!statSync(dockerfile).isFile())
      throw new LabError('E_SCENARIO_INVALID', `${dockerfile}:1:1: not a regular file`);
    const bad = dockerfileRefusal(readFileSync(dockerfile, 'utf8'));
    if (bad) throw new LabError('E_SCENARIO_INVALID', `${dockerfile}:${bad.line}:${bad.col}: ${bad.message}`);
  }
  const imageVariant =
    m.image !== undefined || m.build !== undefined
      ? toVariant(
          {
            protocol: 'image',
            label,
            ...(m.image !== undefined && { image: m.image }),
            ...(m.build !== undefined && { build: '.' }), // relative to the manifest: its folder
            transport: m.transport,
            server: m.server,
            client: m.client,
            ...(m.ready && { ready: m.ready }),
            resumable: m.resumable,
          },
          { file, ms },
        )
      : undefined;
  return {
    label,
    description: m.description ?? '',
    dir: resolve(dir),
    manifest: file,
    variant,
    ...(imageVariant && { imageVariant }),
    ...(m.image !== undefined && { image: m.image }),
    build: m.build === '.',
  };
}

/** Every sub-folder of DIR with a udplab.yaml, by name; all manifests are checked before anything runs. */
export function loadImplementations(dir: string, o: ManifestOptions = {}): Implementation[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, MANIFEST)))
      .map((e) => e.name)
      .sort();
  } catch (e) {
    throw new LabError('E_SCENARIO_INVALID', `--protocols-from ${dir}: cannot read: ${(e as Error).message}`);
  }
  if (entries.length === 0)
    throw new LabError('E_SCENARIO_INVALID', `--protocols-from ${dir}: no sub-folder has a ${MANIFEST}`);
  const out = entries.map((e) => loadImplementation(join(dir, e), o));
  const seen = new Map<string, string>();
  for (const i of out) {
    if (i.build && o.allowImages?.includes(implTag(i.label)))
      throw new LabError(
        'E_SCENARIO_INVALID',
        `${i.manifest}:1:1: label "${i.label}": its build would be tagged ${implTag(i.label)}, the image --allow-image names: give it another label`,
      );
    const other = seen.get(i.label);
    if (other)
      throw new LabError('E_SCENARIO_INVALID', `${i.manifest}:1:1: label "${i.label}" is also ${other}'s label`);
    seen.set(i.label, i.manifest);
  }
  return out;
}
