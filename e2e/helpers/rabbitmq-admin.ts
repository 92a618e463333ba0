// A RabbitMQ vhost of one test file on the machine's broker, through rabbitmqctl, so a broker outage
// can be produced for real without touching what other tests (and vhost /) use: the broker refuses
// the collector (permissions revoked, its connection closed) until they are restored.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);
const rabbitmqctl = async (...args: string[]) => (await run('rabbitmqctl', ['-q', ...args], { timeout: 60_000 })).stdout;

export class RabbitVhost {
  readonly name = `e2e-${randomUUID()}`;

  static async create(): Promise<RabbitVhost> {
    const vhost = new RabbitVhost();
    await rabbitmqctl('add_vhost', vhost.name);
    await vhost.restore();
    return vhost;
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(this.name)}`;
  }

  /** guest may no longer use the vhost, and every connection to it except our consumer's is closed. */
  async revoke(keepClientPort: number): Promise<void> {
    await rabbitmqctl('clear_permissions', '-p', this.name, 'guest');
    // Tab-separated rows: pid (in the <node.n.n.n> form close_connection takes), vhost, client port.
    const rows = (await rabbitmqctl('list_connections', 'pid', 'vhost', 'peer_port')).split('\n').map((l) => l.split('\t'));
    for (const [pid, vhost, port] of rows) {
      if (pid && vhost === this.name && Number(port) !== keepClientPort) await rabbitmqctl('close_connection', pid, 'e2e: broker outage');
    }
  }

  async restore(): Promise<void> {
    await rabbitmqctl('set_permissions', '-p', this.name, 'guest', '.*', '.*', '.*');
  }

  async delete(): Promise<void> {
    await rabbitmqctl('delete_vhost', this.name).catch(() => undefined);
  }
}
