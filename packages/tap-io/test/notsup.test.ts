import { afterEach, describe, expect, it, vi } from 'vitest';

const realPlatform = process.platform;
afterEach(() => {
  Object.defineProperty(process, 'platform', { value: realPlatform });
  vi.resetModules();
});

describe('without TAP support', () => {
  it('openTap throws ENOTSUP on a platform without TAP, and the other links still work', async () => {
    vi.resetModules();
    Object.defineProperty(process, 'platform', { value: 'darwin' });
    const mod = await import('../src/index.js');
    let err: unknown;
    try {
      mod.openTap({ name: 'tsnope0' });
    } catch (e) {
      err = e;
    }
    expect(mod.LinkError.isInstance(err)).toBe(true);
    expect((err as { code: string }).code).toBe('ENOTSUP');
    expect((err as Error).message).toContain('darwin');
    expect(mod.tapAvailable()).toBe(false);
    const sw = new mod.MemorySwitch();
    const a = sw.createPort({ name: 'a', mac: '02:00:00:00:00:01' });
    expect(a.send(new Uint8Array(60).fill(0xff))).toBe(true);
  });

  it('rejects a missing or invalid name before touching the device', async () => {
    const mod = await import('../src/index.js');
    expect(() => mod.openTap({ name: '' })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    if (process.platform === 'linux' && mod.tapAvailable()) {
      expect(() => mod.openTap({ name: 'x'.repeat(20) })).toThrow(
        expect.objectContaining({ code: 'EINVAL' }),
      );
    }
  });
});
