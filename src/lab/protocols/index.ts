// The protocol registry: one file per protocol (name, transport, resumable, options schema, server spec, client
// argv, how a client's outcome is read). The scenario schema's `protocols:` entries are composed from it; the
// runner and the runtimes ask it instead of testing protocol names. Adding a protocol = one file + one line here.
import { z } from 'zod';
import { LabError } from '../errors.js';
import { exec } from './exec.js';
import { image } from './image.js';
import { naive } from './naive.js';
import { ruft } from './ruft.js';
import { tcp } from './tcp.js';
import { tftp } from './tftp.js';
import type { OptionsContext, ProtocolEntry, ServerSpec, Variant } from './types.js';

export * from './types.js';

export const REGISTRY: readonly ProtocolEntry[] = [ruft, naive, tftp, tcp, exec, image];

/** Names that may be written bare in `protocols:`. */
export const PROTOCOLS = REGISTRY.filter((p) => p.bare).map((p) => p.name) as [string, ...string[]];

export function protocolEntry(name: string): ProtocolEntry {
  const p = REGISTRY.find((x) => x.name === name);
  if (!p) throw new LabError('E_SCENARIO_INVALID', `unknown protocol "${name}"`);
  return p;
}

/** The schema of one `protocols:` entry: a bare name, or the object form of any registered protocol. */
export const variantSchema = z.union([
  z.enum(PROTOCOLS),
  z.discriminatedUnion(
    'protocol',
    REGISTRY.map((p) => p.schema) as unknown as [z.ZodObject<{ protocol: z.ZodLiteral<string> }>],
  ),
]);
export type VariantInput =
  | string
  | ({ protocol: string; label?: string; expect_failure?: boolean } & Record<string, unknown>);

/** A parsed `protocols:` entry as the lab's Variant. */
export function toVariant(v: VariantInput, ctx: OptionsContext): Variant {
  if (typeof v === 'string') return { id: v, protocol: v, options: {}, expectFailure: false };
  const p = protocolEntry(v.protocol);
  return {
    id: v.label ?? v.protocol,
    protocol: v.protocol,
    options: p.options(v as never, ctx),
    expectFailure: v.expect_failure ?? false,
  };
}

export function serverSpec(v: Variant): ServerSpec {
  return protocolEntry(v.protocol).server(v);
}

/** The argv of one client run (udplab arguments for the built-ins, the program's own for exec). */
export function clientArgs(v: Variant, target: string, remote: string, local: string): string[] {
  return protocolEntry(v.protocol).client(v, target, remote, local);
}

export function resumable(v: Variant): boolean {
  return protocolEntry(v.protocol).resumable(v);
}

export function isExec(v: Variant): boolean {
  return protocolEntry(v.protocol).outcome === 'file';
}
