/** The control socket's `@checks` request (`uvs ctl checks`). */
import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import { type DirectorRequests, handleRequest } from '../../src/daemon/requests.js';
import { IpvsCore } from '../../src/ipvs/core.js';

function director(checks?: () => Promise<string | null>): DirectorRequests {
  const plane = new ControlPlane(new IpvsCore({ capacity: 16 }));
  return {
    target: plane,
    stats: () => ({}),
    trace: async () => '',
    ...(checks ? { checks } : {}),
  };
}

describe('@checks', () => {
  it("answers with the runtime's table", async () => {
    const r = await handleRequest(
      director(async () => 'REAL SERVER ...\n'),
      { argv: ['@checks'] },
    );
    expect(r).toEqual({ code: 0, out: 'REAL SERVER ...\n', err: '' });
  });

  it('says so when the director runs no checks, and takes no arguments', async () => {
    const none = await handleRequest(
      director(async () => null),
      { argv: ['@checks'] },
    );
    expect(none.code).toBe(1);
    expect(none.err).toContain('start it with --keepalived FILE');
    const old = await handleRequest(director(), { argv: ['@checks'] });
    expect(old.code).toBe(1);
    const extra = await handleRequest(
      director(async () => ''),
      { argv: ['@checks', 'x'] },
    );
    expect(extra).toEqual({ code: 2, out: '', err: 'uvs: @checks takes no arguments\n' });
  });
});
