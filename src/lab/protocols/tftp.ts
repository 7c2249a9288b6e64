// tftp: RFC 1350 with blksize / windowsize / timeout options (RFC 2348, 7440, 2349).
import { z } from 'zod';
import { duration } from '../units.js';
import { common, defineProtocol, intIn, type VariantOptions } from './types.js';

export const tftp = defineProtocol({
  name: 'tftp',
  bare: true,
  schema: z
    .object({
      protocol: z.literal('tftp'),
      ...common,
      blksize: intIn(8, 65464).optional(),
      windowsize: intIn(1, 65535).optional(),
      timeout: duration.optional(),
      no_options: z.boolean().optional(),
    })
    .strict(),
  options(v, { ms }) {
    const o: VariantOptions = {};
    if (v.blksize !== undefined) o.blksize = v.blksize;
    if (v.windowsize !== undefined) o.windowsize = v.windowsize;
    if (v.timeout !== undefined) o.timeoutMs = ms(v.timeout);
    if (v.no_options) o.noOptions = true;
    return o;
  },
  transport: () => 'udp',
  resumable: () => false,
  // a run's clients (up to 200) all come from one address: the per-source cap must not refuse them
  server: () => ({
    key: 'tftp',
    transport: 'udp',
    args: ['tftp-serve', '--quiet', '--max-per-source', '256'],
    ready: /listening on/,
  }),
  client(v, target, remote, local) {
    const o = v.options;
    return [
      'tftp-get',
      target,
      remote,
      local,
      '--json',
      '--force',
      ...(o.blksize !== undefined ? ['--blksize', String(o.blksize)] : []),
      ...(o.windowsize !== undefined ? ['--windowsize', String(o.windowsize)] : []),
      ...(o.timeoutMs !== undefined ? ['--timeout', String(o.timeoutMs)] : []),
      ...(o.noOptions ? ['--no-options'] : []),
    ];
  },
  outcome: 'json',
});
