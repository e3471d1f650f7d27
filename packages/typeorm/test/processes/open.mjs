// The kit's worker processes import this (processes.module) to open the adapter in
// another process the way the conformance files' `open` does. Plain JavaScript on the
// built package. The driver comes from MTSTORE_TYPEORM_DRIVER, which the conformance
// file sets before the kit spawns anything (children inherit the environment); the
// sqlite files live in the directory named by MTSTORE_TYPEORM_SQLITE_DIR.
//
// The CommonJS build, required: importing the ESM build makes Node run its CommonJS
// lexer over TypeORM (CommonJS) and every module it re-exports, to find their names;
// ~0.1 s of CPU in each of the ~20 worker processes a kit file starts (~60 in a run).
import { createRequire } from 'node:module';
import { join } from 'node:path';

const { TypeormSessionStorage, TypeormStorage } = createRequire(import.meta.url)('@mtstore/typeorm');

const driver = process.env.MTSTORE_TYPEORM_DRIVER;

function connection(namespace) {
  if (driver === 'sqlite') {
    const dir = process.env.MTSTORE_TYPEORM_SQLITE_DIR;
    if (!dir) throw new Error('MTSTORE_TYPEORM_SQLITE_DIR is not set');
    return { options: { type: 'better-sqlite3', database: join(dir, `${namespace}.db`), enableWAL: true } };
  }
  if (driver === 'postgres') {
    const url = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    return { options: { type: 'postgres', url, applicationName: 'mtstore-typeorm-test', poolSize: 4 }, tablePrefix: `${namespace}_` };
  }
  if (driver === 'mysql') {
    const url = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
    return { options: { type: 'mariadb', url, poolSize: 4 }, tablePrefix: `${namespace}_` };
  }
  throw new Error(`MTSTORE_TYPEORM_DRIVER must be sqlite, postgres or mysql, got ${driver}`);
}

export function openStorage(namespace, name) {
  return new TypeormStorage({ ...connection(namespace), name });
}

export function openSessionStorage(namespace) {
  return new TypeormSessionStorage(connection(namespace));
}
