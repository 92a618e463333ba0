// Listening endpoints in the reference broker's (Twisted-style) syntax:
//   tcp:port=10000[:interface=127.0.0.1]
//   tls:port=10000:cert=/path/cert.pem:key=/path/key.pem[:interface=…]
// A colon inside a value (an IPv6 interface) is written as `\:`. Port 0 asks the OS for a free port.

export type Endpoint =
  | { kind: 'tcp'; port: number; host?: string }
  | { kind: 'tls'; port: number; host?: string; cert: string; key: string };

export class EndpointError extends Error {
  override name = 'EndpointError';
}

const KEYS = { tcp: ['port', 'interface'], tls: ['port', 'interface', 'cert', 'key'] } as const;

export function parseEndpoint(spec: string): Endpoint {
  const parts = spec.split(/(?<!\\):/).map((p) => p.replace(/\\:/g, ':'));
  const kind = parts.shift();
  if (kind !== 'tcp' && kind !== 'tls') {
    throw new EndpointError(`endpoint "${spec}": type must be tcp or tls (e.g. tcp:port=10000 or tls:port=10000:cert=C:key=K)`);
  }
  const fields = new Map<string, string>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    const key = eq > 0 ? part.slice(0, eq) : '';
    if (!(KEYS[kind] as readonly string[]).includes(key)) {
      throw new EndpointError(`endpoint "${spec}": unknown option "${part}" (allowed for ${kind}: ${KEYS[kind].join(', ')})`);
    }
    if (fields.has(key)) throw new EndpointError(`endpoint "${spec}": option "${key}" given twice`);
    fields.set(key, part.slice(eq + 1));
  }
  const portText = fields.get('port');
  if (portText === undefined) throw new EndpointError(`endpoint "${spec}": port=… is required`);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new EndpointError(`endpoint "${spec}": port "${portText}" is not a number from 0 to 65535`);
  }
  const host = fields.get('interface') || undefined;
  if (kind === 'tcp') return { kind, port, ...(host ? { host } : {}) };
  const cert = fields.get('cert');
  const key = fields.get('key');
  if (!cert || !key) throw new EndpointError(`endpoint "${spec}": tls needs cert=… and key=… (PEM files)`);
  return { kind, port, cert, key, ...(host ? { host } : {}) };
}

export function formatEndpoint(e: Endpoint): string {
  const esc = (v: string) => v.replace(/:/g, '\\:');
  const iface = e.host ? `:interface=${esc(e.host)}` : '';
  return e.kind === 'tcp'
    ? `tcp:port=${e.port}${iface}`
    : `tls:port=${e.port}${iface}:cert=${esc(e.cert)}:key=${esc(e.key)}`;
}
