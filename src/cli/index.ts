// The `udplab` command: parses arguments (commander), runs one command, maps error codes to exit codes.
// Rule: a command returns its exit code; errors with a `code` print one line `udplab: <code>: <message>`.
import { Command, CommanderError } from 'commander';
import { exitCodeFor } from './exit-codes.js';
import { VERSION } from './version.js';

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command('udplab')
    .description('Reliable, encrypted file transfer over UDP, and the network lab that proves it works')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  const setExit = (code: number) => {
    exitCode = code;
  };
  for (const register of await commands()) register(program, setExit);
  (await import('./commands/lab.js')).registerReport(program, setExit);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('E_')) {
      process.stderr.write(`udplab: ${code}: ${(err as Error).message}\n`);
      return exitCodeFor(code);
    }
    throw err;
  }
  return exitCode;
}

export type Register = (program: Command, setExit: (code: number) => void) => void;

async function commands(): Promise<Register[]> {
  const mods: Array<{ register: Register }> = await Promise.all([
    import('./commands/transfer.js'),
    import('./commands/lab.js'),
    import('./commands/relay.js'),
    import('./commands/sim.js'),
    import('./commands/baselines.js'),
    import('./commands/shape.js'),
    import('./commands/fidelity.js'),
    import('./commands/doctor.js'),
  ]);
  return mods.map((m) => m.register);
}
