// Nothing is lost when the collector or a broker is down: Postfix accepts the mail, keeps it queued
// while the collector answers 4xx (or cannot be reached), and delivers all of it after a retry once
// everything is back; in spool mode the collector takes the mail at once and replays it itself. Queue
// timers are shortened to seconds for the test (FAST_RETRY). The cases share one appliance and run in
// order: the first starts the collector, each leaves everything running.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Appliance, assertIntact, TRAP_DOMAIN, trapMessage } from './helpers/appliance.js';
import { RabbitVhost } from './helpers/rabbitmq-admin.js';
import { Service } from './helpers/service.js';
import { sendEmail } from './helpers/swaks.js';
import { tcpOpen } from './helpers/ports.js';
import { eventually, GiveUp } from './helpers/wait.js';

describe('outages: nothing lost', () => {
  let vhost: RabbitVhost;
  let app: Appliance;

  /**
   * Sends n trap messages (each accepted by Postfix) and waits until Postfix has deferred each one
   * (SOFTBOUNCE: a 5xx that soft_bounce turned into a deferral).
   */
  async function sendDuringOutage(n: number, deferral: RegExp) {
    const sent = [];
    for (let i = 0; i < n; i++) {
      const msg = trapMessage();
      const { queueId } = await sendEmail({ port: app.postfix!.smtpPort, to: `outage-${i}@${TRAP_DOMAIN}`, data: msg.data });
      assert.ok(queueId, 'Postfix accepted the message');
      sent.push({ ...msg, queueId });
    }
    for (const { queueId } of sent) {
      await app.postfix!.waitForLog(`the deferral of ${queueId}`, new RegExp(`${queueId}: to=<.*status=(?:deferred|SOFTBOUNCE) \\(.*${deferral.source}`));
    }
    const queued = (await app.postfix!.queue()).map((q) => q.queue_id);
    for (const { queueId } of sent) assert.ok(queued.includes(queueId), `${queueId} is still queued`);
    return sent;
  }

  /** Every message reaches both brokers intact, and the queue drains. */
  async function assertAllDelivered(sent: { token: string; data: Buffer }[]) {
    for (const { token, data } of sent) {
      const got = await app.waitForTrapMail(token, 60_000);
      assertIntact(got.hpfeeds, data);
      assertIntact(got.amqp, data);
      // A retry may publish again to the broker that was up (at least once), never different bytes.
      for (const copy of [...app.received(token).hpfeeds, ...app.received(token).amqp]) assert.equal(copy.sha256, got.amqp.sha256);
    }
    await eventually('an empty Postfix queue', async () => (await app.postfix!.queue()).length === 0, 30_000);
  }

  before(async () => {
    vhost = await RabbitVhost.create();
    app = await Appliance.start({ amqpUrl: vhost.url, startCollector: false });
  });
  after(async () => {
    try {
      await app?.stop();
    } finally {
      await vhost?.delete();
    }
  });

  test('collector down: mail is queued, then delivered once the collector starts', async () => {
    const sent = await sendDuringOutage(3, /Connection refused/);
    await app.collector!.start();
    await assertAllDelivered(sent);
  });

  test('hpfeeds broker down: 4xx and retry, then delivered when it is back on the same port', async () => {
    await app.hpfeedsBroker!.stop();
    await eventually('the collector to report hpfeeds down (/readyz 503)', async () => !(await app.collector!.ready()));
    const sent = await sendDuringOutage(2, / 4\d\d /);
    // hpfeeds keeps nothing for absent subscribers: hold the queued mail until our subscriber is back,
    // so a retry cannot slip in between the collector's reconnect and ours. Released, it is retried
    // by Postfix's own queue manager.
    const conf = app.postfix!.configDir;
    await app.postfix!.exec('postsuper', ['-c', conf, '-h', 'ALL']);
    await app.hpfeedsBroker!.restart();
    await eventually('our hpfeeds subscriber to be back', () => app.subscriber!.connected);
    await eventually('the collector to be ready again', () => app.collector!.ready());
    await app.postfix!.exec('postsuper', ['-c', conf, '-H', 'ALL']);
    await assertAllDelivered(sent);
  });

  test('RabbitMQ refusing the collector: 4xx and retry, then delivered when it accepts again', async () => {
    await vhost.revoke(app.amqp!.clientPort);
    await eventually('the collector to report AMQP down (/readyz 503)', async () => !(await app.collector!.ready()));
    const sent = await sendDuringOutage(2, / 4\d\d /);
    await vhost.restore();
    await assertAllDelivered(sent);
  });

  test('even a 5xx on the LMTP side keeps trap mail queued: no bounce, delivered later', async () => {
    // The collector never answers 5xx; Postfix's smtp-sink stands in for one that does (-f .: a hard
    // error after the message data), on the collector's port.
    await app.collector!.stop();
    const lmtpPort = app.postfix!.env.LMTP_PORT!;
    const sink = Service.start('smtp-sink', 'smtp-sink', ['-u', 'postfix', '-L', '-f', '.', `127.0.0.1:${lmtpPort}`, '10'], process.env, app.dir);
    try {
      await eventually('smtp-sink to listen', async () => {
        if (!sink.running) throw new GiveUp(`smtp-sink exited: ${sink.log}`);
        return tcpOpen(Number(lmtpPort));
      });
      const sent = await sendDuringOutage(1, / 5\d\d /);
      assert.equal((await app.postfix!.outboundActivity()).notices, false, 'no bounce was generated');
      await sink.stop();
      await app.collector!.start();
      await assertAllDelivered(sent);
    } finally {
      await sink.stop();
    }
  });

  test('spool mode (-m), RabbitMQ down: Postfix gets 250 at once, the spool replays the mail to both brokers once it is back', async () => {
    await app.collector!.stop();
    await app.collector!.start({ spoolDir: path.join(app.dir, 'spool') });
    await vhost.revoke(app.amqp!.clientPort);
    await eventually('the collector to lose RabbitMQ', async () => !(await app.collector!.sinkConnected('amqp')));
    const sent = [];
    for (let i = 0; i < 2; i++) {
      const msg = trapMessage();
      const { queueId } = await sendEmail({ port: app.postfix!.smtpPort, to: `spool-${i}@${TRAP_DOMAIN}`, data: msg.data });
      await app.postfix!.waitForLog(`the delivery of ${queueId}`, new RegExp(`${queueId}: to=<.*status=sent \\(250 `));
      sent.push(msg);
    }
    await eventually('an empty Postfix queue', async () => (await app.postfix!.queue()).length === 0);
    // The spool forwards only while every sink is up: nothing went out yet, to either broker.
    for (const { token } of sent) assert.deepEqual(app.received(token), { hpfeeds: [], amqp: [] }, 'held in the spool');
    await vhost.restore();
    await assertAllDelivered(sent);
  });
});
