// Finding a scenario's results among the folders one `udplab lab --out DIR` run wrote: each is named
// `<scenario name>-<UTC stamp>` (src/cli/commands/lab.ts), and one scenario's name can start another's
// (`vm-tcp-shaped` and `vm-tcp-shaped-1g`), so a prefix is not enough.

const STAMP = /^\d{8}T\d{6}Z$/;

/** The folder of `scenario`'s results among `folders` (the newest when there are several), or undefined. */
export function scenarioFolder(folders: readonly string[], scenario: string): string | undefined {
  return folders
    .filter((d) => d.startsWith(`${scenario}-`) && STAMP.test(d.slice(scenario.length + 1)))
    .sort()
    .pop();
}
