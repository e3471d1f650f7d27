/**
 * openStorage's options: a misspelt one was ignored — `{ nmae: 'alice' }` opened session
 * "default", `{ encrypton: … }` stored auth keys in plaintext — with no sign of it.
 */
import { describe, expect, it } from 'vitest';
import { openStorage, registerAdapter } from '../src/index.js';

let loaded = 0;
registerAdapter('optionstest', async () => {
  loaded++;
  throw new Error('the adapter was loaded');
});

async function failure(options: object): Promise<{ code?: unknown; message: string }> {
  return openStorage('optionstest://db', options as never).then(
    () => ({ message: 'opened' }),
    (error: unknown) => error as { code?: unknown; message: string },
  );
}

describe('openStorage options', () => {
  it('an unknown option is InvalidArgumentError naming the nearest, before the adapter loads', async () => {
    const typo = await failure({ nmae: 'alice' });
    expect(typo.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(typo.message).toContain('openStorage: unknown option "nmae" (did you mean "name"?)');
    expect((await failure({ encrypton: { keys: [] } })).message).toContain('(did you mean "encryption"?)');
    // Adapter options belong in the URL (or the adapter's own class).
    const create = await failure({ create: false });
    expect(create.message).toContain('unknown option "create"');
    expect(create.message).toContain('?create=false');
    // A name that may be key text is not echoed.
    const hex = 'ab'.repeat(32);
    expect((await failure({ [hex]: true })).message).not.toContain(hex.slice(0, 16));
    expect(loaded).toBe(0);
  });

  it('the known options, undefined-valued ones included, still reach the adapter', async () => {
    const error = await failure({ name: 'alice', encryption: undefined });
    expect(error.message).toContain('the adapter was loaded');
  });
});
