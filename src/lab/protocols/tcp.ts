// tcp: the TCP baseline (tcp-serve / tcp-get); the userspace relay does not shape it.
import { z } from 'zod';
import { duration } from '../units.js';
import { common, defineProtocol, type VariantOptions } from './types.js';

export const tcp = defineProtocol({
  name: 'tcp',
  bare: true,
  schema: z.object({ protocol: z.literal('tcp'), ...common, timeout: duration.optional() }).strict(),
  options(v, { ms }) {
    const o: VariantOptions = {};
    if (v.timeout !== undefined) o.timeoutMs = ms(v.timeout);
    return o;
  },
  transport: () => 'tcp',
  resumable: () => false,
  server: () => ({ key: 'tcp', transport: 'tcp', args: ['tcp-serve', '--quiet'], ready: /listening on/ }),
  client: (v, target, remote, local) => [
    'tcp-get',
    target,
    remote,
    local,
    '--json',
    '--force',
    ...(v.options.timeoutMs !== undefined ? ['--timeout', String(v.options.timeoutMs)] : []),
  ],
  outcome: 'json',
});
