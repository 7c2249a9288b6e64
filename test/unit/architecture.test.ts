// Enforces design §2 and §8: the sans-I/O rule and the dependency direction.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const FORBIDDEN = [
  'Date.now',
  'new Date(',
  'Math.random',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'performance',
  'randomBytes',
  'node:dgram',
  'node:fs',
  'node:net',
  'process.hrtime',
];
const PURE = ['protocol', 'crypto', 'impair', 'sim'];

/** Which top-level folders each folder may import from (besides itself). */
const ALLOWED: Record<string, string[]> = {
  impair: [],
  crypto: ['impair'],
  protocol: ['crypto', 'impair'],
  sim: ['protocol', 'impair', 'crypto'],
  files: ['protocol', 'crypto'],
  transport: ['protocol', 'crypto', 'impair', 'files', 'sim'],
  baselines: ['impair', 'files', 'crypto', 'transport', 'protocol'],
  lab: ['transport', 'protocol', 'impair', 'files', 'baselines', 'crypto', 'report', 'sim'],
  report: ['impair'],
  cli: ['lab', 'transport', 'protocol', 'impair', 'sim', 'files', 'crypto', 'baselines', 'report'],
};

describe('architecture', () => {
  const all = files(SRC);

  it.each(PURE)('src/%s is sans-I/O: no clocks, timers, Math.random, sockets or files', (folder) => {
    const offenders: string[] = [];
    for (const f of all.filter((p) => relative(SRC, p).startsWith(`${folder}/`))) {
      const text = readFileSync(f, 'utf8')
        .replace(/\/\/.*$/gm, '')
        .replace(/\/\*[\s\S]*?\*\//g, '');
      for (const word of FORBIDDEN) if (text.includes(word)) offenders.push(`${relative(SRC, f)}: ${word}`);
    }
    expect(offenders).toEqual([]);
  });

  it('src/ copies bytes with copyBytes, never .slice(): on a Buffer it is a view (DEP0158)', () => {
    // The simulator's "copy" of a datagram it corrupted was a view on the one it also delivered as the duplicate
    // whenever the datagram was a Buffer (src/impair/bytes.ts); a no-argument .slice() is how code says "a copy", so
    // none is allowed.
    const offenders: string[] = [];
    for (const f of all) {
      const text = readFileSync(f, 'utf8').replace(/\/\/.*$/gm, '');
      for (const [i, line] of text.split('\n').entries())
        if (line.includes('.slice()')) offenders.push(`${relative(SRC, f)}:${i + 1}`);
    }
    expect(offenders).toEqual([]);
  });

  it('imports follow the dependency direction and go through index.ts', () => {
    const offenders: string[] = [];
    for (const f of all) {
      const from = relative(SRC, f).split('/')[0]!;
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/from '(\.\.?\/[^']+)'/g)) {
        const target = relative(SRC, join(f, '..', m[1]!));
        const [to, ...rest] = target.split('/');
        if (!to || to === from || to.startsWith('..')) continue;
        if (!(ALLOWED[from] ?? []).includes(to!))
          offenders.push(`${relative(SRC, f)} imports ${target} (${from} → ${to})`);
        else if (rest.join('/') !== 'index.js')
          offenders.push(`${relative(SRC, f)} reaches into ${target}, not ${to}/index.ts`);
      }
    }
    expect(offenders).toEqual([]);
  });

  /** Inside the protocol core (docs/architecture.md "The protocol core"): the layer below the connection. */
  const DATA_PATH = [
    'sender',
    'sent-packets',
    'loss-recovery',
    'delivery-rate',
    'pmtu-search',
    'congestion',
    'receiver',
  ];
  const CONNECTION_LAYER = /^\.\/(connection|connection-[a-z]+|handshake|packetizer|timers)\.js$/;

  it("the protocol's data path (sender, receiver and their parts) never imports the connection's layer", () => {
    const offenders: string[] = [];
    for (const name of DATA_PATH) {
      const text = readFileSync(join(SRC, 'protocol', `${name}.ts`), 'utf8');
      for (const m of text.matchAll(/from '(\.\/[^']+)'/g))
        if (CONNECTION_LAYER.test(m[1]!)) offenders.push(`protocol/${name}.ts imports ${m[1]}`);
    }
    expect(offenders).toEqual([]);
  });

  /** Light entry points besides index.ts: what they import must not load the heavy rest (testcontainers, zx). */
  const LIGHT_ENTRIES = ['lab/shape.js', 'lab/fidelity.js']; // fidelity: `udplab fidelity`, the relay and a probe

  it('dynamic imports go through index.ts or a declared light entry (lab/shape.ts: `udplab shape` in 0.2 s, not 2 s)', () => {
    const offenders: string[] = [];
    for (const f of all) {
      const from = relative(SRC, f).split('/')[0]!;
      for (const m of readFileSync(f, 'utf8').matchAll(/import\('(\.\.?\/[^']+)'\)/g)) {
        const target = relative(SRC, join(f, '..', m[1]!));
        const [to, ...rest] = target.split('/');
        if (!to || to === from || to.startsWith('..')) continue;
        if (!(ALLOWED[from] ?? []).includes(to!)) offenders.push(`${relative(SRC, f)} imports ${target}`);
        else if (rest.join('/') !== 'index.js' && !LIGHT_ENTRIES.includes(target))
          offenders.push(`${relative(SRC, f)} reaches into ${target}`);
      }
    }
    expect(offenders).toEqual([]);
    // a light entry imports only pure folders and its own folder's modules that do not touch Docker libraries; of the
    // runtimes, only the Host seam (runtimes/host.ts: node builtins, errors, process, shape — checked here too)
    const heavy = /from '(testcontainers|zx)'|from '\.\.?\/(index|runner|runtimes\/(?!host\.js')[^']+)\.js'/;
    for (const entry of [...LIGHT_ENTRIES, 'lab/runtimes/host.js']) {
      const text = readFileSync(join(SRC, entry.replace(/\.js$/, '.ts')), 'utf8');
      expect(text, entry).not.toMatch(heavy);
    }
  });

  it('the CLI imports the lab and the report only when a lab command runs (serve/get start fast)', () => {
    const offenders: string[] = [];
    for (const f of all.filter((x) => relative(SRC, x).startsWith('cli/'))) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/^import (?!type )[^;]*from '(\.\.?\/[^']+)'/gm)) {
        const to = relative(SRC, join(f, '..', m[1]!)).split('/')[0];
        if (to === 'lab' || to === 'report') offenders.push(`${relative(SRC, f)}: ${m[0]!.split('\n')[0]}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
