// `udplab shape TARGET "<netem>"`: kernel netem on a running container (a compose service or a `docker run`
// container), through `docker exec … tc`, or from a sidecar in its network namespace when its image has no tc
// (or with --sidecar). The netem value is checked by the scenarios' grammar before Docker is
// asked anything; the lab's shape module is loaded only when the command runs (its light entry, not lab/index.ts,
// which loads testcontainers).
import type { Command } from 'commander';
import { type Netem, parseNetem } from '../../impair/index.js';
import type { Register } from '../index.js';
import { UsageError } from '../usage-error.js';

interface ShapeFlags {
  dir: string;
  dev: string;
  project?: string;
  clear?: boolean;
  show?: boolean;
  sidecar?: boolean;
  sidecarImage?: string;
}

export const register: Register = (program: Command, setExit) => {
  program
    .command('shape')
    .description(
      "apply kernel netem to a running container's interface (docker exec … tc; the container needs NET_ADMIN and tc)",
    )
    .argument('<target>', 'a compose service (e.g. server) or a container name or ID')
    .argument('[netem]', 'netem options, as in scenarios: e.g. "delay 20ms 5ms loss 2%"')
    .option('--dir <dir>', 'egress | ingress (ingress through an ifb device)', 'egress')
    .option('--dev <if>', 'the interface inside the container', 'eth0')
    .option('--project <name>', 'the compose project, when several run the service')
    .option('--clear', 'remove the netem that shape applied in this direction')
    .option('--show', 'print the qdiscs only (after --clear, when both are given)')
    .option(
      '--sidecar',
      "run tc from a sidecar in the container's network namespace (docker run --network container:ID --cap-add NET_ADMIN); default: only when the image has no tc",
    )
    .option('--sidecar-image <image>', "the sidecar's image (it needs tc)", 'udplab/udplab:local')
    .action(async (target: string, netemText: string | undefined, f: ShapeFlags) => {
      if (f.dir !== 'egress' && f.dir !== 'ingress')
        throw new UsageError(`--dir must be egress or ingress, got "${f.dir}"`);
      if (!/^[A-Za-z0-9_.@-]{1,15}$/.test(f.dev)) throw new UsageError(`--dev "${f.dev}" is not an interface name`);
      if (netemText !== undefined && (f.clear || f.show))
        throw new UsageError('give either a netem value, or --clear / --show, not both');
      if (netemText === undefined && !f.clear && !f.show)
        throw new UsageError('say what to do: a netem value like "delay 10ms loss 1%", --clear or --show');
      let netem: Netem | undefined;
      if (netemText !== undefined) {
        netem = parseNetem(netemText); // E_NETEM_SYNTAX: one line naming the word, before Docker is asked anything
        if (Object.keys(netem).length === 0)
          throw new UsageError('an empty netem value: use --clear to remove shaping');
      }
      // the lab's light entry (no testcontainers): 0.2 s instead of 2 s (test/unit/architecture.test.ts)
      const { shape } = await import('../../lab/shape.js');
      const action = netem ? 'apply' : f.clear ? 'clear' : 'show';
      const r = await shape(
        target,
        { action, dev: f.dev, dir: f.dir, ...(netem && { netem }) },
        {
          ...(f.project && { project: f.project }),
          ...(f.sidecar && { sidecar: true }),
          ...(f.sidecarImage && { sidecarImage: f.sidecarImage }),
        },
      );
      for (const n of r.notices) process.stderr.write(`udplab shape: notice: ${n}\n`);
      const who = r.target.service
        ? `${r.target.name} (service ${r.target.service}${r.target.project ? `, project ${r.target.project}` : ''})`
        : r.target.name;
      const what = action === 'apply' ? `netem ${r.applied}` : action === 'clear' ? 'cleared' : 'current qdiscs';
      const via = r.via.kind === 'sidecar' ? ` (from a sidecar, ${r.via.image})` : '';
      console.log(`udplab shape: ${who} ${f.dev} ${f.dir}: ${what}${via}`);
      console.log(r.readback);
      setExit(0);
    });
};
