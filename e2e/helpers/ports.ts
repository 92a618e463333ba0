import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Where the kernel picks local ports for outgoing connections (and for listen(0)). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux: the IANA range
  }
  return [49152, 65535];
}

/**
 * A port that is free right now. Postfix's master.cf and the collector's restart-on-the-same-port
 * cases need a number up front, so "listen on 0" is not enough. It is picked at random below the
 * ephemeral range: a port from listen(0) comes from that range, where any outgoing connection of a
 * test running alongside (to RabbitMQ, say) may take it before the program under test binds it.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [ephemeralLow] = ephemeralRange();
  const low = 10_000;
  const high = ephemeralLow > low + 1000 ? ephemeralLow - 1 : 65_535;
  for (let attempt = 0; ; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    const server = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 100) continue;
      throw err;
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }
}

export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Whether this machine can listen on ::1 (some containers cannot); IPv6 cases are skipped otherwise. */
export async function ipv6LoopbackAvailable(): Promise<boolean> {
  try {
    await freePort('::1');
    return true;
  } catch {
    return false;
  }
}

/**
 * For a test that needs ::1: true when it can run. On a machine without it the test is skipped, unless
 * CI (or E2E_REQUIRE_IPV6) is set: there a missing ::1 fails the run, so CI cannot lose the IPv6 cases
 * without anyone noticing.
 */
export async function requireIpv6Loopback(t: { skip(message: string): void }): Promise<boolean> {
  if (await ipv6LoopbackAvailable()) return true;
  const required = [process.env.CI, process.env.E2E_REQUIRE_IPV6].some((v) => v !== undefined && v !== '' && v !== '0' && v !== 'false');
  if (required) throw new Error('::1 is not available on this machine, and CI/E2E_REQUIRE_IPV6 requires the IPv6 loopback tests to run');
  t.skip('::1 is not available on this machine (set CI or E2E_REQUIRE_IPV6 to make that a failure)');
  return false;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function tcpOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
