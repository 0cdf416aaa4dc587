/**
 * A `vrrp_sync_group`: its members change state together, as keepalived/vrrp/vrrp_sync.c
 * does it. One member becoming MASTER takes the others to MASTER, one member leaving
 * MASTER for BACKUP takes the others to BACKUP, one member going FAULT takes the whole
 * group to FAULT until every member is healthy again. A member whose down timer expires
 * only goes MASTER once every other member wants MASTER too (keepalived prefers BACKUP to
 * thrashing), which is what happens when the master router of the pair dies.
 *
 * The LVS-NAT layout: the outside VIP and the real servers' gateway address on the inside
 * are two instances in one group, so the gateway always moves with the VIP.
 */
import type { VrrpSyncGroupConfig } from './vrrp-config.js';
import type { InstanceGroup, VrrpInstance, VrrpStateName } from './vrrp-instance.js';

export class VrrpSyncGroup implements InstanceGroup {
  readonly name: string;
  state: VrrpStateName = 'INIT';
  private readonly faulty = new Set<VrrpInstance>();

  constructor(
    readonly cfg: VrrpSyncGroupConfig,
    readonly members: VrrpInstance[],
    private readonly changed: (g: VrrpSyncGroup, from: VrrpStateName, to: VrrpStateName) => void,
  ) {
    this.name = cfg.name;
    for (const m of members) m.group = this;
  }

  private setState(to: VrrpStateName): void {
    const from = this.state;
    this.state = to;
    if (from !== to) this.changed(this, from, to);
  }

  canGoMaster(inst: VrrpInstance): boolean {
    if (this.state === 'MASTER') return true;
    // keepalived's num_member_fault / num_member_init: nobody moves while a member is
    // faulty or still waiting for its first script result.
    if (this.faulty.size > 0 || this.members.some((m) => m.state === 'INIT')) return false;
    return this.members.every((m) => m === inst || m.wantState === 'MASTER');
  }

  memberMaster(inst: VrrpInstance): void {
    if (this.state === 'MASTER' || !this.canGoMaster(inst)) return;
    this.setState('MASTER');
    for (const m of this.members) {
      if (m === inst || m.state === 'MASTER' || m.state === 'STOP') continue;
      m.wantState = 'MASTER';
      m.gotoMaster();
    }
  }

  memberBackup(inst: VrrpInstance): void {
    if (this.state === 'BACKUP' || this.faulty.size > 0) return;
    this.setState('BACKUP');
    for (const m of this.members) {
      if (m === inst) continue;
      if (m.state === 'MASTER') {
        m.wantState = 'BACKUP';
        m.leaveMaster(false);
      } else if (m.state === 'FAULT' && m.faultCount === 0) {
        m.wantState = 'BACKUP';
        m.leaveFault();
      }
    }
  }

  memberDown(inst: VrrpInstance): void {
    this.faulty.add(inst);
    if (this.state === 'FAULT') return;
    this.setState('FAULT');
    for (const m of this.members) {
      if (m === inst) continue;
      if (m.state === 'MASTER') {
        m.wantState = 'FAULT';
        m.leaveMaster(false);
      } else if (m.state === 'BACKUP') {
        m.wantState = 'FAULT';
        m.leaveFault();
      }
    }
  }

  memberUp(inst: VrrpInstance): boolean {
    this.faulty.delete(inst);
    return this.faulty.size === 0;
  }

  /** After every member has started: the group's first state. */
  settle(): void {
    const down = this.members.filter((m) => m.faultCount > 0);
    if (down.length > 0) {
      for (const m of down) this.memberDown(m);
      return;
    }
    if (this.members.every((m) => m.state === 'BACKUP')) this.setState('BACKUP');
  }

  /**
   * After a reload, once every member has carried on or started: the group had its old
   * state back (set by the router); a faulty member takes it to FAULT, a MASTER group takes
   * its new members to MASTER, a group of backups is BACKUP.
   */
  resume(): void {
    this.faulty.clear();
    for (const m of this.members) if (m.faultCount > 0) this.faulty.add(m);
    if (this.faulty.size > 0) {
      if (this.state !== 'FAULT') this.setState('FAULT');
      for (const m of this.members) {
        if (this.faulty.has(m)) continue;
        if (m.state === 'MASTER') {
          m.wantState = 'FAULT';
          m.leaveMaster(false);
        } else if (m.state === 'BACKUP') {
          m.wantState = 'FAULT';
          m.leaveFault();
        }
      }
      return;
    }
    if (this.state === 'MASTER') {
      for (const m of this.members) {
        if (m.state !== 'BACKUP') continue;
        m.wantState = 'MASTER';
        m.gotoMaster();
      }
      return;
    }
    for (const m of this.members) {
      if (m.state !== 'FAULT') continue;
      m.wantState = 'BACKUP';
      m.leaveFault();
    }
    if (this.members.every((m) => m.state === 'BACKUP')) this.setState('BACKUP');
  }

  /** Clean stop. */
  stop(): void {
    this.setState('STOP');
  }
}
