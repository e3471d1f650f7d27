// The kit's worker processes open the adapter here (processes.module in
// test/kit.ts): each kit namespace is its own database on MONGODB_URL.
import { MongoSessionStorage, MongoStorage } from '@mtstore/mongo';

const urlFor = (namespace) => {
  const url = new URL(process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017');
  url.pathname = `/${namespace}`;
  return url.href;
};

export const openStorage = (namespace, name) => new MongoStorage({ url: urlFor(namespace), name });
export const openSessionStorage = (namespace) => new MongoSessionStorage({ url: urlFor(namespace) });
