// ruft: udplab's own reliable, encrypted transfer (serve / get). The only built-in that resumes after a crash.
import { z } from 'zod';
import { common, defineProtocol, intIn, type VariantOptions } from './types.js';

export const ruft = defineProtocol({
  name: 'ruft',
  bare: true,
  schema: z
    .object({
      protocol: z.literal('ruft'),
      ...common,
      plaintext: z.boolean().optional(),
      datagram_size: intIn(1200, 65507).optional(),
      /** The server sends with the background (LEDBAT) controller: `udplab get --background`. */
      background: z.boolean().optional(),
    })
    .strict(),
  options(v) {
    const o: VariantOptions = {};
    if (v.plaintext) o.plaintext = true;
    if (v.datagram_size !== undefined) o.datagramBytes = v.datagram_size;
    if (v.background) o.background = true;
    return o;
  },
  transport: () => 'udp',
  resumable: () => true,
  server(v) {
    const ready = /listening on/;
    const d = v.options.datagramBytes;
    const size = d === undefined ? [] : ['--datagram-size', String(d)];
    return v.options.plaintext
      ? {
          key: `ruft-plain${d ? `-d${d}` : ''}`,
          transport: 'udp',
          args: ['serve', '--quiet', '--insecure-plaintext', ...size],
          ready,
        }
      : { key: `ruft${d ? `-d${d}` : ''}`, transport: 'udp', args: ['serve', '--quiet', ...size], ready };
  },
  client: (v, target, remote, local) => [
    'get',
    target,
    remote,
    local,
    '--json',
    '--force',
    ...(v.options.plaintext ? ['--insecure-plaintext'] : ['--accept-new']),
    ...(v.options.background ? ['--background'] : []),
  ],
  outcome: 'json',
});
