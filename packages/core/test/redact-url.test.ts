/**
 * What messages show of a URL: never a credential, whether it is the password of the
 * user part or a query parameter that carries one (libpq's sslpassword, MongoDB's
 * tlsCertificateKeyFilePassword and authMechanismProperties, Redis's ?password=).
 */
import { describe, expect, it } from 'vitest';
import { hideSecret, openStorage, quotesSecret, redactUrl } from '../src/index.js';

describe('redactUrl', () => {
  it('hides the password and every query value named like a credential, and keeps the rest as written', () => {
    const cases: [string, string[], string[]][] = [
      ['postgres://u:hunter2@db:5432/app?schema=tg&sslpassword=s3cret&sslmode=require', ['hunter2', 's3cret'], ['schema=tg', 'sslmode=require', 'sslpassword=***', 'u:***@']],
      ['mongodb://h:27017/app?authMechanismProperties=AWS_SESSION_TOKEN:tok3n&tlsCertificateKeyFilePassword=pw9&authSource=admin', ['tok3n', 'pw9'], ['authSource=admin']],
      ['redis://h:6379/0?password=r3dis&prefix=app', ['r3dis'], ['prefix=app', 'password=***']],
      ['https://h/x?sig=abc123&Token=t0k&client_secret=cs1', ['abc123', 't0k', 'cs1'], ['sig=***']],
    ];
    for (const [url, hidden, kept] of cases) {
      const shown = redactUrl(url);
      for (const secret of hidden) expect(shown, url).not.toContain(secret);
      for (const part of kept) expect(shown, url).toContain(part);
    }
    expect(redactUrl('postgres://db/app?schema=a%20b&x=1')).toBe('postgres://db/app?schema=a%20b&x=1');
    expect(redactUrl('not a url')).toBe('<unparsable url>');
  });

  it("core's own messages quote a URL without its credentials", async () => {
    const error = await openStorage('nosuch://u:pw1@h/db?password=pw2', { name: 'x' }).catch((e: Error) => e);
    expect((error as Error).message).toContain('nosuch:');
    expect((error as Error).message).not.toMatch(/pw1|pw2/);
  });
});

describe('hideSecret', () => {
  it('hides a password wherever a driver message quotes it, and leaves the words around a short one alone', () => {
    const wrongpass = 'WRONGPASS invalid username-password pair or user is disabled.';
    // A one-letter password used to be replaced inside every word of the message.
    for (const password of ['a', 's', 'p', 'pa', 'ss']) {
      expect(hideSecret(wrongpass, password), password).toBe(wrongpass);
      expect(quotesSecret(wrongpass, password), password).toBe(false);
    }
    expect(hideSecret('username and password cannot be provided when using MONGODB-AWS', 'p')).toBe('username and password cannot be provided when using MONGODB-AWS');
    // Quoted on its own, a short one is hidden; so is one of special characters.
    expect(hideSecret('got: p, expected a number', 'p')).toBe('got: ***, expected a number');
    expect(hideSecret('AUTH "pa$$" refused (pa$$)', 'pa$$')).toBe('AUTH "***" refused (***)');
    expect(hideSecret('x=a.b*c+d', 'a.b*c')).toBe('x=***+d');
    // From 8 characters on it is hidden even inside a longer word.
    expect(hideSecret('tokenhunter2secretX and hunter2secret', 'hunter2secret')).toBe('token***X and ***');
    expect(quotesSecret('tokenhunter2secretX', 'hunter2secret')).toBe(true);
    expect(hideSecret('nothing here', undefined)).toBe('nothing here');
    expect(hideSecret('nothing here', '')).toBe('nothing here');
    expect(quotesSecret('nothing here', '')).toBe(false);
  });
});
