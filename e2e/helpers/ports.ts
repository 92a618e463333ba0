import net from 'node:net';

/**
 * A port that is free right now: bind port 0, read the number, close. Postfix's master.cf and the
 * collector's restart-on-the-same-port cases need a number up front, so "listen on 0" is not enough.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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
