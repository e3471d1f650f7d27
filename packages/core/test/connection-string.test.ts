import { describe, expect, it } from 'vitest';
import { connectionStringParam } from '../src/index.js';

describe('connectionStringParam', () => {
  it("reads one query parameter of a connection string, as URLSearchParams does (the first of repeats, escapes decoded)", () => {
    const url = 'postgres://u:p%3F@db:5432/app?sslmode=disable&query_timeout=1500&query_timeout=9&x=a%20b';
    expect(connectionStringParam(url, 'query_timeout')).toBe('1500');
    expect(connectionStringParam(url, 'x')).toBe('a b');
    expect(connectionStringParam(url, 'schema')).toBeUndefined();
    expect(connectionStringParam('postgres://db/app', 'query_timeout')).toBeUndefined();
    expect(connectionStringParam(undefined, 'query_timeout')).toBeUndefined();
    expect(connectionStringParam(42, 'query_timeout')).toBeUndefined();
  });
});
