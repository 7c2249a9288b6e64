import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix = 'udplab-'): { path: string; [Symbol.dispose](): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

export function randomFile(path: string, sizeBytes: number): string {
  const data = randomBytes(sizeBytes);
  writeFileSync(path, data);
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * An empty file in `dir` that any user may append to (the folder made crossable): where fixture programs note what
 * they did, also when the lab runs them as unprivileged users of their own (root: src/lab/runtimes/privsep.ts).
 */
export function sharedFile(dir: string, name: string): string {
  chmodSync(dir, 0o711);
  const path = join(dir, name);
  writeFileSync(path, '');
  chmodSync(path, 0o666);
  return path;
}
