/**
 * A fake clock and a fake LAN for VRRP routers: packets a router sends reach the other
 * routers on the LAN after `latencyUs` of fake time (multicast to all, unicast to the
 * owner of the destination), VIP and GARP actions are recorded with their time.
 */

import type { VrrpClock, VrrpTimer } from '../../src/ha/vrrp-clock.js';
import {
  resolveVrrpConfig,
  type VirtualAddress,
  type VrrpConfigInput,
} from '../../src/ha/vrrp-config.js';
import type { VrrpStateEvent } from '../../src/ha/vrrp-notify.js';
import { type VrrpIo, VrrpRouter } from '../../src/ha/vrrp-router.js';
import type { ScriptRunner } from '../../src/ha/vrrp-track.js';
import { InetAddr } from '../../src/net/addr.js';

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class FakeClock implements VrrpClock {
  now = 1_000_000;
  private seq = 0;
  private timers: PendingTimer[] = [];

  nowUs(): number {
    return this.now;
  }

  setTimer(delayUs: number, fn: () => void): VrrpTimer {
    const t: PendingTimer = {
      at: this.now + Math.max(0, delayUs),
      seq: this.seq++,
      fn,
      cancelled: false,
    };
    this.timers.push(t);
    return { cancel: () => (t.cancelled = true) };
  }

  /** Runs every timer due up to now + us, in time order, then sets now to that time. */
  advance(us: number): void {
    const end = this.now + us;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      let next: PendingTimer | undefined;
      for (const t of this.timers) {
        if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq)))
          next = t;
      }
      if (!next) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.now = Math.max(this.now, next.at);
      next.fn();
    }
    this.now = end;
  }

  advanceMs(ms: number): void {
    this.advance(Math.round(ms * 1000));
  }
}

export interface SentAdvert {
  at: number;
  from: string;
  priority: number;
  dst: number;
  pkt: Uint8Array;
}

export class FakeLan {
  readonly nodes: FakeNode[] = [];
  readonly sent: SentAdvert[] = [];
  constructor(
    readonly clock: FakeClock,
    readonly latencyUs = 100,
  ) {}

  deliver(from: FakeNode, ifname: string, pkt: Uint8Array, dst: number): void {
    this.sent.push({ at: this.clock.now, from: from.name, priority: pkt[22], dst, pkt });
    for (const n of this.nodes) {
      if (n === from || !n.connected || !from.connected) continue;
      if (dst >>> 28 !== 0xe && n.address.v4 !== dst) continue;
      const copy = pkt.slice();
      this.clock.setTimer(this.latencyUs, () => {
        if (n.connected) n.rx.get(ifname)?.(copy, copy.length);
      });
    }
  }
}

export interface VipEvent {
  at: number;
  node: string;
  present: boolean;
  vips: string[];
}

export class FakeNode implements VrrpIo {
  connected = true;
  readonly rx = new Map<string, (pkt: Uint8Array, len: number) => void>();
  readonly vipEvents: VipEvent[] = [];
  readonly garps: Array<{ at: number; repeat: number; vips: string[] }> = [];
  readonly links = new Map<string, boolean>();
  readonly events: VrrpStateEvent[] = [];
  readonly notifies: string[][] = [];
  router!: VrrpRouter;
  readonly address: InetAddr;

  constructor(
    readonly lan: FakeLan,
    readonly name: string,
    address: string,
  ) {
    this.address = InetAddr.parseOrThrow(address);
    lan.nodes.push(this);
  }

  listen(ifname: string, onPacket: (pkt: Uint8Array, len: number) => void): void {
    this.rx.set(ifname, onPacket);
  }
  send(ifname: string, pkt: Uint8Array, dst: number): void {
    this.lan.deliver(this, ifname, pkt, dst);
  }
  primaryAddress(): InetAddr | undefined {
    return this.address;
  }
  setAddresses(vips: readonly VirtualAddress[], present: boolean): void {
    this.vipEvents.push({
      at: this.lan.clock.now,
      node: this.name,
      present,
      vips: vips.map((v) => v.text),
    });
  }
  sendGarp(vips: readonly VirtualAddress[], repeat: number): void {
    this.garps.push({ at: this.lan.clock.now, repeat, vips: vips.map((v) => v.text) });
  }
  linkUp(ifname: string): boolean {
    return this.links.get(ifname) ?? true;
  }
  close(): void {}

  /** Adverts this node sent. */
  adverts(): SentAdvert[] {
    return this.lan.sent.filter((s) => s.from === this.name);
  }

  /** The instance's state in this node's router. */
  state(inst = 'VI_1'): string | undefined {
    return this.router.instanceState(inst);
  }

  /** When (fake µs) the instance last entered `state`. */
  enteredAt(state: string, inst = 'VI_1'): number | undefined {
    const e = this.events.filter((x) => x.kind === 'instance' && x.name === inst && x.to === state);
    return e.length ? e[e.length - 1].atUs : undefined;
  }
}

/** Builds a router on a node from a config; scripts answer through `scriptResult`. */
export function makeRouter(
  node: FakeNode,
  input: VrrpConfigInput,
  scriptResult: (cmd: string) => number = () => 0,
): VrrpRouter {
  const runScript: ScriptRunner = async (cmd) => scriptResult(cmd);
  const r = new VrrpRouter(resolveVrrpConfig(input), {
    io: node,
    clock: node.lan.clock,
    runScript,
    runNotify: (argv) => node.notifies.push(argv),
    linkPollMs: 0,
  });
  r.onStateChange((ev) => node.events.push(ev));
  node.router = r;
  return r;
}

/** One instance VI_1 on eth0, VRID 51, with overrides. */
export function oneInstance(
  over: Partial<VrrpConfigInput['vrrp_instance'][number]> = {},
  extra: Partial<VrrpConfigInput> = {},
): VrrpConfigInput {
  return {
    ...extra,
    vrrp_instance: [
      {
        name: 'VI_1',
        interface: 'eth0',
        virtual_router_id: 51,
        priority: 100,
        advert_int: 1,
        virtual_ipaddress: ['198.18.0.100/24'],
        ...over,
      },
    ],
  };
}
