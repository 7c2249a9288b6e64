// naive: the seminar report's program (no acks, fixed datagrams, the shared-address bug), IPv4 only.
import { z } from 'zod';
import { bytesOf, duration, size } from '../units.js';
import { common, defineProtocol, intIn, type VariantOptions } from './types.js';

export const naive = defineProtocol({
  name: 'naive',
  bare: true,
  schema: z
    .object({
      protocol: z.literal('naive'),
      ...common,
      chunk: intIn(1, 65507).optional(),
      bufsize: intIn(1, 65535).optional(),
      rcvbuf: size.optional(),
      stall: duration.optional(),
      key: z.boolean().optional(),
    })
    .strict(),
  options(v, { ms }) {
    const o: VariantOptions = {};
    if (v.chunk !== undefined) o.chunkBytes = v.chunk;
    if (v.bufsize !== undefined) o.bufsizeBytes = v.bufsize;
    if (v.rcvbuf !== undefined) o.rcvbufBytes = bytesOf(v.rcvbuf);
    if (v.stall !== undefined) o.stallMs = ms(v.stall);
    if (v.key) o.key = true;
    return o;
  },
  transport: () => 'udp',
  resumable: () => false,
  server(v) {
    const chunk = v.options.chunkBytes ?? 1024;
    return {
      key: `naive-${chunk}`,
      transport: 'udp',
      args: ['naive-serve', '--quiet', '--chunk', String(chunk)],
      ready: /listening on/,
    };
  },
  client(v, target, remote, local) {
    const o = v.options;
    return [
      'naive-get',
      target,
      remote,
      local,
      '--json',
      ...(o.bufsizeBytes !== undefined ? ['--bufsize', String(o.bufsizeBytes)] : []),
      ...(o.rcvbufBytes !== undefined ? ['--rcvbuf', String(o.rcvbufBytes)] : []),
      ...(o.stallMs !== undefined ? ['--stall', String(o.stallMs)] : []),
      ...(o.key ? ['--key'] : []),
    ];
  },
  outcome: 'json',
  ipv4Only: "the naive protocol is the seminar's IPv4-only program",
});
