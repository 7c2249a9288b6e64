// Targets as users write them (issue "The path users take", IPv6): `[v6]:port`, `[v6]`, a bare v6 (default
// port), `host:port` and names; a bare `::1:4455` is refused with one line that says to write `[::1]:4455`.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHostPort } from '../../../src/cli/commands/transfer.js';
import { canonicalAddress, formatHostPort, splitHostPort } from '../../../src/transport/index.js';

const BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'udplab.js');

function err(s: string, allowZero = false): string {
  const r = splitHostPort(s, 4455, allowZero);
  return 'error' in r ? r.error : `parsed ${JSON.stringify(r)}`;
}

describe('HOST[:PORT] and [IPV6]:PORT', () => {
  it.each([
    ['[::1]:4455', '::1', 4455],
    ['[::1]', '::1', 4455],
    ['::1', '::1', 4455],
    ['::', '::', 4455],
    ['[::]:0', '::', 0],
    ['fe80::1', 'fe80::1', 4455],
    ['[fe80::1%eth0]:7000', 'fe80::1%eth0', 7000],
    ['2001:db8::1', '2001:db8::1', 4455],
    ['2001:db8:0:0:0:0:0:1', '2001:db8:0:0:0:0:0:1', 4455],
    ['[2001:db8::1]:65535', '2001:db8::1', 65535],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.1', 4455],
    ['[::ffff:127.0.0.1]:9', '::ffff:127.0.0.1', 9],
    ['127.0.0.1', '127.0.0.1', 4455],
    ['127.0.0.1:80', '127.0.0.1', 80],
    ['localhost:1', 'localhost', 1],
    ['files.example.org', 'files.example.org', 4455],
  ])('%s → host %s port %i', (s, host, port) => {
    expect(parseHostPort(s, true)).toEqual({ host, port });
  });

  it('a bare IPv6 address ending in a port-like group is refused with one line naming [addr]:port', () => {
    expect(err('::1:4455')).toBe(
      '"::1:4455" is ambiguous: write [::1]:4455 for port 4455 on ::1, or [::1:4455] for the address ::1:4455',
    );
    // 59308 is no IPv6 group (more than 4 hex digits): only one reading
    expect(err('::1:59308')).toBe('"::1:59308": an IPv6 address takes its port in brackets: write [::1]:59308');
    expect(err('2001:db8::1:80')).toMatch(/write \[2001:db8::1\]:80 /);
    expect(() => parseHostPort('::1:4455')).toThrow(/write \[::1\]:4455/);
  });

  it('refuses what is neither a host nor an IPv6 address, and ports out of range', () => {
    expect(err('[localhost]:1')).toBe('"[localhost]:1": [localhost] is not an IPv6 address');
    expect(err('[::1]4455')).toMatch(/is not HOST, HOST:PORT or \[IPV6\]:PORT/);
    expect(err('a:b:c')).toMatch(/is not HOST, HOST:PORT or \[IPV6\]:PORT/);
    expect(err('')).toMatch(/is not HOST/);
    expect(err('[::1]:')).toMatch(/port "" is out of range 1–65535/);
    expect(err('[::1]:65536')).toMatch(/port "65536" is out of range/);
    expect(err('host:0')).toMatch(/out of range 1–65535/);
    expect(err('host:0', true)).toBe('parsed {"host":"host","port":0}');
    expect(err('host:x')).toMatch(/port "x"/);
  });

  it('the default port is the caller’s (TFTP 69), with brackets too', () => {
    expect(parseHostPort('[::1]', false, 69)).toEqual({ host: '::1', port: 69 });
    expect(parseHostPort('::1', false, 69)).toEqual({ host: '::1', port: 69 });
    expect(parseHostPort('h', false, 69)).toEqual({ host: 'h', port: 69 });
  });

  it('formats IPv6 with brackets and compares addresses in the form rinfo has', () => {
    expect(formatHostPort('::1', 4455)).toBe('[::1]:4455');
    expect(formatHostPort('127.0.0.1', 4455)).toBe('127.0.0.1:4455');
    expect(formatHostPort('example.org', 1)).toBe('example.org:1');
    expect(canonicalAddress('0:0::1')).toBe('::1');
    expect(canonicalAddress('::FFFF:127.0.0.1')).toBe('::ffff:127.0.0.1');
    expect(canonicalAddress('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(canonicalAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(canonicalAddress('example.org')).toBe('example.org');
  });

  it('udplab get ::1:4455 exits 2 with one line that says to write [::1]:4455', () => {
    const r = spawnSync(process.execPath, [BIN, 'get', '::1:4455', 'f'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/write \[::1\]:4455/);
  });

  it('the help of get, tftp-get and relay shows [IPV6]:PORT', () => {
    for (const cmd of ['get', 'put', 'ls', 'tftp-get', 'tcp-get', 'relay']) {
      const r = spawnSync(process.execPath, [BIN, cmd, '--help'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.stdout, cmd).toMatch(/\[IPV6\]:PORT/);
    }
  });
});
