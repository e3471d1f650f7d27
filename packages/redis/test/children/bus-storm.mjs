// A RedisSessionEventBus in a process of its own, for bus-storm.test.ts: the test kills
// this bus's subscriber connection over and over, so an unhandled rejection anywhere in
// the bus or in ioredis would end this process (Node's default: no handler is set here).
// argv: the adapter's bundle, `single` or `cluster`, the server URL (a seed node for a
// cluster), the key prefix, the connection name. Tells the parent over IPC:
// { subscribed }, { state }, { event: authKeyId }; closes the bus on 'close'.
import { pathToFileURL } from 'node:url';

const [bundle, mode, address, prefix, connectionName] = process.argv.slice(2);
const { RedisSessionEventBus } = await import(pathToFileURL(bundle).href);

const url = new URL(address);
const options =
  mode === 'cluster'
    ? { prefix, cluster: { nodes: [{ host: url.hostname, port: Number(url.port || 6379) }], options: { redisOptions: { connectionName } } } }
    : { prefix, url: address, options: { connectionName } };
const bus = new RedisSessionEventBus(options);
await bus.subscribe((event) => process.send({ event: String(event.authKeyId) }), { onState: (state) => process.send({ state }) });
process.send({ subscribed: true });
process.on('message', (message) => {
  if (message === 'close') bus.close().then(() => process.exit(0), () => process.exit(3));
});
