// What each side of a bench row sends, counted in the driver: statements for postgres and
// typeorm (pg's Client#query, transaction control included), commands for mongo (the
// driver's Connection#command, by command name). A ratio below 0.9 with the same count
// on both sides is the cost of the JavaScript around the driver (see bench/icount.mjs),
// or noise; a higher count on the adapter side is a round trip to remove.
//   node bench/statements.mjs <backend> <op>[,<op>…] [calls]   (default 64 calls per side)
// e.g. node bench/statements.mjs postgres authKeys.set,kv.get,kv.set
import { createRequire } from 'node:module';

const [backend, ops, callsArg] = process.argv.slice(2);
if (!backend || !ops) throw new Error('usage: node bench/statements.mjs <backend> <op>[,<op>…] [calls]');
const calls = Number(callsArg ?? 64);
const require = createRequire(import.meta.url);

let counts = null; // name → count, while a side runs
const count = (name) => counts !== null && counts.set(name, (counts.get(name) ?? 0) + 1);
if (backend === 'mongo') {
  const { Connection } = require('mongodb/lib/cmap/connection.js');
  const command = Connection.prototype.command;
  Connection.prototype.command = function (ns, cmd, ...rest) {
    // The command and the fields it carries (filter, projection, upsert…), so two sides
    // sending the same command with different options show apart; lsid, $db, $clusterTime
    // and txnNumber are the driver's own.
    const own = new Set(['lsid', '$db', '$clusterTime', 'txnNumber', '$readPreference']);
    const [name, ...fields] = Object.keys(cmd).filter((key) => !own.has(key));
    count(`${name}(${fields.join(',')})${cmd.updates ? ` updates:${cmd.updates.map((u) => Object.keys(u).join('+')).join(';')}` : ''}`);
    return command.call(this, ns, cmd, ...rest);
  };
} else {
  // One pg for the adapter, TypeORM and the raw side (checked: a second copy would count nothing).
  const { Client } = require('pg');
  const query = Client.prototype.query;
  Client.prototype.query = function (config, ...rest) {
    const text = typeof config === 'string' ? config : config?.text;
    if (typeof text === 'string') count((config?.name ? `[prepared] ` : '') + text.replace(/\s+/g, ' ').replace(/mtstore_bench_typeorm_\d+_|"?mt_bench_\d+"?\./g, '').slice(0, 60));
    return query.call(this, config, ...rest);
  };
}

const module = (await import(`./adapters/${backend}.mjs`)).default;
const names = ops.split(',');
const opened = await module.open({ wanted: (operation) => names.includes(operation) });
try {
  for (const op of names) {
    for (const side of ['adapter', 'raw']) {
      const target = opened.targets[side][op];
      if (target === undefined) throw new Error(`bench/adapters/${backend}.mjs has no ${side} side for ${op}`);
      counts = new Map();
      // One at a time: a count per call, not the pool's interleaving.
      for (let i = 0; i < calls; i++) await target(i);
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      const each = [...counts].map(([name, n]) => `${(n / calls).toFixed(2)}× ${name}`).join(' | ');
      console.log(`${backend.padEnd(9)} ${op.padEnd(14)} ${side.padEnd(8)} ${(total / calls).toFixed(2)} per call: ${each}`);
      counts = null;
    }
  }
} finally {
  await opened.sealed?.close();
  await opened.close();
}
