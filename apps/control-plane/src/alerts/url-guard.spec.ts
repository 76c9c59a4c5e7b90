import { describe, expect, it } from 'vitest';
import { parseAllowList, UrlGuard } from './url-guard.js';

const dns = (answers: Record<string, string[]>) => (host: string) =>
  Promise.resolve((answers[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));

describe('webhook URL guard (SSRF)', () => {
  const guard = new UrlGuard(
    parseAllowList(''),
    dns({ 'hooks.example.com': ['93.184.216.34'], 'rebind.example.com': ['93.184.216.34', '10.0.0.5'] }),
  );

  it.each([
    'http://127.0.0.1:9000/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.1.2.3/',
    'http://192.168.1.1/',
    'http://172.20.0.1/',
    'http://[::1]/',
    'http://[fe80::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://0.0.0.0/',
  ])('refuses %s naming the address', async (url) => {
    await expect(guard.check(url)).rejects.toThrow(/internal \(loopback, private, link-local or metadata\) address/);
  });

  it('refuses a name with any internal address among its answers', async () => {
    await expect(guard.check('https://rebind.example.com/x')).rejects.toThrow(/resolves to 10\.0\.0\.5/);
  });

  it('accepts a public address and pins it', async () => {
    expect(await guard.check('https://hooks.example.com/x')).toMatchObject({ address: '93.184.216.34', family: 4 });
  });

  it('refuses other schemes, credentials and names that do not resolve', async () => {
    await expect(guard.check('file:///etc/passwd')).rejects.toThrow(/http or https/);
    await expect(guard.check('http://u:p@hooks.example.com/')).rejects.toThrow(/credentials/);
    await expect(guard.check('http://nowhere.example.com/')).rejects.toThrow(/does not resolve/);
  });

  it('the allow-list admits exactly its ranges', async () => {
    const allowing = new UrlGuard(parseAllowList('127.0.0.1/32'));
    expect((await allowing.check('http://127.0.0.1:9000/')).address).toBe('127.0.0.1');
    await expect(allowing.check('http://127.0.0.2:9000/')).rejects.toThrow(/internal/);
    expect(() => parseAllowList('127.0.0.1/40')).toThrow(/WEBHOOK_ALLOWED_CIDRS: "127.0.0.1\/40"/);
  });
});
