// The CLI's `main(argv)` in this process with stderr captured line by line (the usage tests: exit code and the one
// line said). Call `restore()` in afterEach.
import { vi } from 'vitest';

export function cliRunner(): { lines: string[]; run(argv: string[]): Promise<number>; restore(): void } {
  const lines: string[] = [];
  return {
    lines,
    async run(argv) {
      vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
        lines.push(String(s));
        return true;
      });
      const { main } = await import('../../src/cli/index.js');
      return main(argv);
    },
    restore() {
      vi.restoreAllMocks();
      lines.length = 0;
    },
  };
}
