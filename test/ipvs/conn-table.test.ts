/**
 * The connection table's lookup block (src/ipvs/conn-table.ts): the only copy of an entry's
 * key, IPv4 and IPv6 in one layout. Families, templates and directions never match each
 * other; the accessors read back what was stored; a template's ports can be changed and the
 * entry rehashed; and a random mix of both families in a few buckets behaves as a map.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnTable } from '../../src/ipvs/conn-table.js';
import { AF_INET, AF_INET6, FlowKey, InetAddr } from '../../src/net/addr.js';
import { IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ipproto.js';

const A = (s: string): InetAddr => InetAddr.parseOrThrow(s);

/** Allocate, key and hash one entry: client -> virtual key, real server daddr:dport. */
function insert(
  t: ConnTable,
  key: FlowKey,
  daddr: InetAddr,
  dport: number,
  template = false,
): number {
  const c = t.alloc();
  expect(c).toBeGreaterThanOrEqual(0);
  t.setKey(c, key, daddr, dport, template);
  t.hash(c);
  return c;
}

const inKey = (proto: number, c: string, cp: number, v: string, vp: number): FlowKey =>
  new FlowKey().set(proto, A(c), cp, A(v), vp);

describe('ConnTable lookup block', () => {
  it('never matches an IPv4 key with an IPv6 entry of the same 128 bits, nor the reverse', () => {
    const t = new ConnTable(64, 4, 7);
    // ::ffff:198.18.0.10 is an IPv6 address with exactly the words of IPv4 198.18.0.10.
    const k4 = inKey(IPPROTO_TCP, '198.18.0.10', 40000, '198.18.0.100', 80);
    const k6 = inKey(IPPROTO_TCP, '::ffff:198.18.0.10', 40000, '::ffff:198.18.0.100', 80);
    expect([...k4.saddr]).toEqual([...k6.saddr]);
    const c4 = insert(t, k4, A('198.18.1.11'), 8080);
    expect(t.findIn(k6)).toBe(-1);
    const c6 = insert(t, k6, A('::ffff:198.18.1.11'), 8080);
    expect(t.findIn(k4)).toBe(c4);
    expect(t.findIn(k6)).toBe(c6);
    const r4 = new FlowKey().set(IPPROTO_TCP, A('198.18.1.11'), 8080, A('198.18.0.10'), 40000);
    const r6 = new FlowKey().set(
      IPPROTO_TCP,
      A('::ffff:198.18.1.11'),
      8080,
      A('::ffff:198.18.0.10'),
      40000,
    );
    expect(t.findOut(r4)).toBe(c4);
    expect(t.findOut(r6)).toBe(c6);
    t.unhash(c4);
    expect(t.findIn(k4)).toBe(-1);
    expect(t.findOut(r4)).toBe(-1);
    expect(t.findIn(k6)).toBe(c6);
  });

  it('compares the upper words of IPv6 keys on both sides', () => {
    const t = new ConnTable(64, 4, 7);
    const k = inKey(IPPROTO_UDP, '2001:db8:1::10', 5000, '2001:db8::100', 53);
    const c = insert(t, k, A('2001:db8:2::11'), 5353);
    expect(t.findIn(k)).toBe(c);
    // Same low words, another client / virtual prefix: no match.
    expect(t.findIn(inKey(IPPROTO_UDP, '2001:db8:9::10', 5000, '2001:db8::100', 53))).toBe(-1);
    expect(t.findIn(inKey(IPPROTO_UDP, '2001:db8:1::10', 5000, '2001:db9::100', 53))).toBe(-1);
    const reply = (rs: string) =>
      new FlowKey().set(IPPROTO_UDP, A(rs), 5353, A('2001:db8:1::10'), 5000);
    expect(t.findOut(reply('2001:db8:2::11'))).toBe(c);
    expect(t.findOut(reply('2001:db8:3::11'))).toBe(-1);
    expect(t.findIn(inKey(IPPROTO_TCP, '2001:db8:1::10', 5000, '2001:db8::100', 53))).toBe(-1);
  });

  it('keeps entries and templates apart: lookups never return the other kind', () => {
    const t = new ConnTable(64, 4, 7);
    const k = inKey(IPPROTO_TCP, '198.18.7.0', 0, '198.18.0.100', 80);
    const tpl = insert(t, k, A('198.18.1.11'), 80, true);
    expect(t.findIn(k)).toBe(-1);
    expect(t.findTemplate(k)).toBe(tpl);
    const c = insert(t, k, A('198.18.1.11'), 80);
    expect(t.findIn(k)).toBe(c);
    expect(t.findTemplate(k)).toBe(tpl);
    // A reply never finds a template, even one with the same real-server side.
    t.unhash(c);
    expect(
      t.findOut(new FlowKey().set(IPPROTO_TCP, A('198.18.1.11'), 80, A('198.18.7.0'), 0)),
    ).toBe(-1);
    expect([t.isTemplate(tpl), t.isTemplate(c)]).toEqual([true, false]);
  });

  it('reads back every field through the accessors, without allocating for IPv4 values', () => {
    const t = new ConnTable(16, 4, 1);
    const k4 = inKey(IPPROTO_TCP, '198.18.0.10', 0xfffe, '198.18.0.100', 443);
    const c4 = insert(t, k4, A('198.18.1.11'), 0x8001);
    expect([t.af(c4), t.proto(c4), t.cport(c4), t.vport(c4), t.dport(c4)]).toEqual([
      AF_INET,
      IPPROTO_TCP,
      0xfffe,
      443,
      0x8001,
    ]);
    expect([t.caddr4(c4), t.vaddr4(c4), t.daddr4(c4)]).toEqual([
      0xc612000a, 0xc6120064, 0xc612010b,
    ]);
    expect(t.caddr(c4).toString()).toBe('198.18.0.10');
    expect(t.daddr(c4).equals(A('198.18.1.11'))).toBe(true);
    const k6 = inKey(IPPROTO_UDP, '2001:db8::a', 1, '2001:db8::64', 2);
    const c6 = insert(t, k6, A('2001:db8:1::b'), 3);
    expect([t.af(c6), t.proto(c6)]).toEqual([AF_INET6, IPPROTO_UDP]);
    expect(t.vaddr(c6).toString()).toBe('2001:db8::64');
    const w = new Int32Array(8);
    t.copyDaddr(c6, w, 4);
    t.copyCaddr(c4, w, 0);
    expect(InetAddr.fromArray(AF_INET6, w, 4).toString()).toBe('2001:db8:1::b');
    expect(InetAddr.fromArray(AF_INET, w, 0).toString()).toBe('198.18.0.10');
    t.copyVaddr(c6, w);
    expect(InetAddr.fromArray(AF_INET6, w).toString()).toBe('2001:db8::64');
  });

  it("changes a template's ports only while unhashed, and finds it under the new key after rehash", () => {
    // ip_vs_check_template: cport 0, vport and dport 0xffff make the template unfindable.
    const t = new ConnTable(16, 4, 3);
    const k = inKey(IPPROTO_TCP, '2001:db8:7::', 0, '2001:db8::100', 80);
    const tpl = insert(t, k, A('2001:db8:1::11'), 80, true);
    expect(() => t.setPorts(tpl, 0, 0xffff, 0xffff)).toThrow(/hashed/);
    expect(() => t.setKey(tpl, k, A('2001:db8:1::11'), 80, true)).toThrow(/hashed/);
    expect(t.unhash(tpl)).toBe(true);
    t.setPorts(tpl, 0, 0xffff, 0xffff);
    t.hash(tpl);
    expect(t.findTemplate(k)).toBe(-1);
    expect(t.findTemplate(inKey(IPPROTO_TCP, '2001:db8:7::', 0, '2001:db8::100', 0xffff))).toBe(
      tpl,
    );
    expect([t.cport(tpl), t.vport(tpl), t.dport(tpl), t.proto(tpl)]).toEqual([
      0,
      0xffff,
      0xffff,
      IPPROTO_TCP,
    ]);
    expect(t.unhash(tpl)).toBe(true);
    expect(t.unhash(tpl)).toBe(false);
  });

  it('holds fwmark templates (IPPROTO_IP) apart from TCP entries with the same addresses', () => {
    const t = new ConnTable(16, 4, 3);
    const mark = new FlowKey().set(IPPROTO_IP, A('198.18.7.0'), 0, InetAddr.v4(5), 0);
    const tcp = new FlowKey().set(IPPROTO_TCP, A('198.18.7.0'), 0, InetAddr.v4(5), 0);
    const tpl = insert(t, mark, A('198.18.1.11'), 0, true);
    expect(t.findTemplate(tcp)).toBe(-1);
    expect(t.findTemplate(mark)).toBe(tpl);
    expect(t.proto(tpl)).toBe(IPPROTO_IP);
  });

  it('costs 89 bytes per slot plus 4 per bucket (9 of them for sync: in_pkts, old_state, sync_endtime)', () => {
    const t = new ConnTable(1024, 8, 0);
    expect(t.memoryBytes()).toBe(1024 * 89 + 256 * 4);
  });

  it('behaves as a map over a random mix of families, templates, inserts and removals', () => {
    const addr4 = fc.integer({ min: 0, max: 3 }).map((i) => InetAddr.v4(0xc6120000 + i));
    const addr6 = fc.integer({ min: 0, max: 3 }).map((i) => InetAddr.v6(0x20010db8, 0, i & 1, i));
    const flow = fc.oneof(fc.tuple(addr4, addr4, addr4), fc.tuple(addr6, addr6, addr6));
    const op = fc.record({
      add: fc.boolean(),
      tpl: fc.boolean(),
      proto: fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP),
      addrs: flow,
      cport: fc.integer({ min: 0, max: 2 }),
      vport: fc.integer({ min: 0, max: 2 }),
      dport: fc.integer({ min: 0, max: 2 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const t = new ConnTable(256, 2, 11); // 4 buckets: long mixed chains
        const model = new Map<string, number>();
        const name = (tpl: boolean, k: FlowKey) => `${tpl}/${k.proto}/${k}`;
        const outName = (k: FlowKey) => `out/${k.proto}/${k}`;
        const outModel = new Map<string, number[]>();
        for (const o of ops) {
          const [c, v, r] = o.addrs;
          const k = new FlowKey().set(o.proto, c, o.cport, v, o.vport);
          const id = name(o.tpl, k);
          if (o.add && !model.has(id)) {
            const e = insert(t, k, r, o.dport, o.tpl);
            model.set(id, e);
            if (!o.tpl) {
              const rk = new FlowKey().set(o.proto, r, o.dport, c, o.cport);
              const list = outModel.get(outName(rk)) ?? [];
              list.unshift(e); // chain head first, as findOut walks
              outModel.set(outName(rk), list);
            }
          } else if (!o.add && model.has(id)) {
            const e = model.get(id)!;
            expect(t.unhash(e)).toBe(true);
            t.free(e);
            model.delete(id);
            for (const list of outModel.values()) {
              const i = list.indexOf(e);
              if (i >= 0) list.splice(i, 1);
            }
          }
          // Every key answers exactly as the model says.
          const got = o.tpl ? t.findTemplate(k) : t.findIn(k);
          expect(got).toBe(model.get(id) ?? -1);
          const rk = new FlowKey().set(o.proto, r, o.dport, c, o.cport);
          const want = outModel.get(outName(rk)) ?? [];
          const out = t.findOut(rk);
          expect(out).toBe(want.length > 0 ? want[0] : -1);
        }
        expect(t.count).toBe(model.size);
      }),
      { numRuns: 200 },
    );
  });
});
