// Independent review (after the fixes for security-review-2026-12): peer-controlled text still reaches the terminal.
// Remote names may hold any character but NUL and '/': a client with write access uploads a file whose NAME holds
// ESC sequences and a newline, and every user who then runs `udplab ls` gets them raw on stdout (cursor moves, a
// cleared screen, a window title, and a forged extra listing line). printable() guards the server log, the CLOSE
// reason and the REJECT message, but not LIST entries (src/cli/commands/transfer.ts `ls` action).
// Expected: `udplab ls` prints one line per entry and no control character (escaped, as printable() does), or
// the server refuses such names on PUT.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { put } from '../../src/transport/index.js';
import { useServer } from '../helpers/server.js';
import { randomFile } from '../helpers/tmp.js';

const run = promisify(execFile);
const bin = join(__dirname, '..', '..', 'bin', 'udplab.js');

describe('review: LIST entries reach the terminal unescaped', () => {
  const live = useServer({
    setup: (root) => {
      randomFile(join(root, 'honest.txt'), 10);
    },
  });
  const { dir, identity } = live;

  it('a name uploaded with ESC and a newline is not printed raw by `udplab ls` (raw on the current code)', async () => {
    const local = join(dir, 'payload');
    randomFile(local, 10);
    const evil = 'x\x1b]0;owned\x07\x1b[2J\n-          999 fake-entry.txt';
    // an ordinary client with write access: the server accepts the name
    await put(live.clientOptions(), local, evil);
    const { stdout } = await run(
      process.execPath,
      [bin, 'ls', `127.0.0.1:${live.server.port}`, '--server-key', Buffer.from(identity.publicKey).toString('base64')],
      { timeout: 20_000, env: { ...process.env, UDPLAB_HOME: dir } },
    );
    const lines = stdout.split('\n').filter((l) => l !== '');
    // two entries (honest.txt and the uploaded one): two lines, no control characters in them
    expect(stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(lines).toHaveLength(2);
  });
});
