// Whether this kernel has IPv6 on loopback: a udp6 socket binds ::1 (IPv6 disabled: EADDRNOTAVAIL/EAFNOSUPPORT).
// Tests over ::1 skip with a visible NOTICE when it does not, rather than fail.
import { createSocket } from 'node:dgram';

export async function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((ok) => {
    let s: ReturnType<typeof createSocket>;
    try {
      s = createSocket('udp6');
    } catch {
      return ok(false);
    }
    s.once('error', () => {
      s.close();
      ok(false);
    });
    s.bind(0, '::1', () => {
      s.close();
      ok(true);
    });
  });
}

export const IPV6 = await hasIpv6Loopback();
if (!IPV6) console.warn('NOTICE: this kernel has no IPv6 on loopback (::1 does not bind): the IPv6 tests are skipped');
