import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatEndpoint, parseEndpoint } from '../src/broker/endpoint.js';
import { parseHostPort } from '../src/broker/exporter.js';

test('parses the reference endpoint syntax', () => {
  assert.deepEqual(parseEndpoint('tcp:port=10000'), { kind: 'tcp', port: 10000 });
  assert.deepEqual(parseEndpoint('tcp:port=0:interface=127.0.0.1'), { kind: 'tcp', port: 0, host: '127.0.0.1' });
  assert.deepEqual(parseEndpoint('tls:port=10001:cert=/c.pem:key=/k.pem'), { kind: 'tls', port: 10001, cert: '/c.pem', key: '/k.pem' });
  assert.deepEqual(parseEndpoint('tcp:port=1:interface=\\:\\:1'), { kind: 'tcp', port: 1, host: '::1' });
});

test('round-trips through formatEndpoint', () => {
  for (const spec of ['tcp:port=5', 'tcp:port=5:interface=\\:\\:1', 'tls:port=7:cert=a:key=b']) {
    assert.equal(formatEndpoint(parseEndpoint(spec)), spec);
  }
});

test('rejects bad endpoints with a message naming the problem', () => {
  const cases: [string, RegExp][] = [
    ['udp:port=1', /type must be tcp or tls/],
    ['tcp', /port=… is required/],
    ['tcp:port=65536', /not a number from 0 to 65535/],
    ['tcp:port=abc', /not a number/],
    ['tcp:port=1:cert=x', /unknown option "cert=x"/],
    ['tcp:port=1:port=2', /given twice/],
    ['tls:port=1:cert=c', /needs cert=… and key=…/],
    ['tcp:10000', /unknown option "10000"/],
  ];
  for (const [spec, message] of cases) assert.throws(() => parseEndpoint(spec), message, spec);
});

test('parses exporter host:port', () => {
  assert.deepEqual(parseHostPort('0.0.0.0:9431'), { host: '0.0.0.0', port: 9431 });
  assert.deepEqual(parseHostPort('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseHostPort(':9431'), { host: '0.0.0.0', port: 9431 });
  assert.throws(() => parseHostPort('9431'), /not host:port/);
  assert.throws(() => parseHostPort('h:70000'), /not host:port/);
});
