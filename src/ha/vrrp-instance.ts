/**
 * One VRRP instance's state machine, as keepalived runs it (keepalived/vrrp/vrrp.c
 * vrrp_state_backup, vrrp_state_master_rx/_tx, vrrp_state_leave_master/_fault,
 * vrrp_scheduler.c vrrp_init_state, try_up_instance, vrrp_track.c down_instance).
 *
 * Timers are keepalived's, in microseconds:
 *   skew (v2)  = (256 - priority) * 1 s / 256
 *   skew (v3)  = (256 - priority) * Master_Adver_Interval / 256   (centisecond steps)
 *   Master_Down_Interval = down_timer_adverts (3) * Master_Adver_Interval + skew
 * One deadline ("sands") per instance: in BACKUP the master-down timer (expiry -> MASTER),
 * in MASTER the advert timer (expiry -> send an advert).
 *
 * Election:
 *   - BACKUP accepts an advert (restarts its down timer, records the master) when
 *     nopreempt, or the advert's priority >= ours, or a preempt_delay is running; a
 *     lower-priority advert is otherwise discarded so the timer runs out and we preempt.
 *     v3 adopts the master's advertised interval. Priority 0 = master resigning: the down
 *     timer becomes just the skew.
 *   - MASTER yields to a higher priority, or an equal one from a higher primary address;
 *     answers a lower-priority advert with an advert at once (unless lower_prio_no_advert)
 *     and a priority-0 advert with an advert.
 *   - priority 255 with `state MASTER` becomes master at once; on stop a master sends
 *     priority 0 and drops its addresses.
 * Sync groups (VrrpSyncGroup) move members together; trackers feed faults and priority.
 *
 * Everything outside the machine (sending, addresses, ARP, notify, time) goes through
 * `InstanceHost`, so tests run it on a fake clock.
 */
import type { InetAddr } from '../net/addr.js';
import type { VrrpClock, VrrpTimer } from './vrrp-clock.js';
import type { VrrpInstanceConfig } from './vrrp-config.js';
import { type ReceivedAdvert, VRRP_PRIO_OWNER, VRRP_PRIO_STOP } from './vrrp-packet.js';

export type VrrpStateName = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';
type WantState = 'BACKUP' | 'MASTER' | 'FAULT';

/** What an instance asks of the router. */
export interface InstanceHost {
  readonly clock: VrrpClock;
  sendAdvert(inst: VrrpInstance, priority: number): void;
  setVips(inst: VrrpInstance, present: boolean): void;
  /** One gratuitous ARP burst: `repeat` per virtual address. */
  sendGarp(inst: VrrpInstance, repeat: number): void;
  stateChanged(inst: VrrpInstance, from: VrrpStateName, to: VrrpStateName): void;
  /** Our source address for this instance (unicast_src_ip or the interface's primary). */
  localAddress(inst: VrrpInstance): InetAddr | undefined;
}

/** The sync group as the instance sees it (see VrrpSyncGroup). */
export interface InstanceGroup {
  readonly name: string;
  readonly state: VrrpStateName;
  canGoMaster(inst: VrrpInstance): boolean;
  memberMaster(inst: VrrpInstance): void;
  memberBackup(inst: VrrpInstance): void;
  memberDown(inst: VrrpInstance): void;
  /** True when this member may leave FAULT (no member of the group is faulty). */
  memberUp(inst: VrrpInstance): boolean;
}

export interface VrrpInstanceStats {
  advertsSent: number;
  advertsReceived: number;
  becomeMaster: number;
  releaseMaster: number;
  priorityZeroSent: number;
  priorityZeroReceived: number;
  lowerPriorityDiscarded: number;
}

const TIMER_HZ = 1_000_000;
const TIMER_CENTI_HZ = 10_000;

export class VrrpInstance {
  readonly name: string;
  state: VrrpStateName = 'INIT';
  wantState: WantState = 'BACKUP';
  readonly basePriority: number;
  /** base + tracker weights, before clamping. */
  totalPriority: number;
  effectivePriority: number;
  /** Our configured advert interval. */
  readonly adverIntUs: number;
  /** The master's interval (v3 adopts the master's; v2 always ours). */
  masterAdverIntUs: number;
  msDownTimerUs: number;
  /** When the current timer fires (Infinity: none). */
  sandsUs = Number.POSITIVE_INFINITY;
  /** preempt_delay end (0: not running). */
  preemptTimeUs = 0;
  /** Fault sources currently down (failed weight-0 scripts, tracked interfaces down). */
  faultCount = 0;
  /** Weight-0 scripts that have not reported yet (keepalived num_script_init). */
  initPending = 0;
  vipSet = false;
  masterAddress: InetAddr | undefined;
  masterPriority = 0;
  group: InstanceGroup | undefined;
  readonly stats: VrrpInstanceStats = {
    advertsSent: 0,
    advertsReceived: 0,
    becomeMaster: 0,
    releaseMaster: 0,
    priorityZeroSent: 0,
    priorityZeroReceived: 0,
    lowerPriorityDiscarded: 0,
  };
  private timer: VrrpTimer | undefined;
  private garpTimer: VrrpTimer | undefined;
  private started = false;

  constructor(
    readonly cfg: VrrpInstanceConfig,
    private readonly host: InstanceHost,
  ) {
    this.name = cfg.name;
    this.basePriority = cfg.priority;
    this.totalPriority = cfg.priority;
    this.effectivePriority = cfg.priority;
    this.adverIntUs = cfg.advertIntervalMs * 1000;
    this.masterAdverIntUs = this.adverIntUs;
    this.msDownTimerUs = this.downInterval();
  }

  get isOwner(): boolean {
    return this.basePriority === VRRP_PRIO_OWNER;
  }

  /** keepalived VRRP_TIMER_SKEW_CALC with the given priority term. */
  private skewCalc(priTerm: number): number {
    if (this.cfg.version === 3) {
      return Math.floor((priTerm * Math.floor(this.masterAdverIntUs / TIMER_CENTI_HZ) * 625) / 16);
    }
    return Math.floor((priTerm * TIMER_HZ) / 256);
  }

  /** Skew time for our effective priority. */
  skewUs(): number {
    return this.skewCalc(256 - this.effectivePriority);
  }

  /** Master_Down_Interval for our effective priority and the master's interval. */
  downInterval(): number {
    return this.cfg.downTimerAdverts * this.masterAdverIntUs + this.skewUs();
  }

  private now(): number {
    return this.host.clock.nowUs();
  }

  private setState(to: VrrpStateName): void {
    const from = this.state;
    this.state = to;
    if (from !== to) this.host.stateChanged(this, from, to);
  }

  /** vrrp_init_instance_sands: the deadline for the current state, and its timer. */
  private initSands(): void {
    const now = this.now();
    if (this.state === 'MASTER') this.sandsUs = now + this.adverIntUs;
    else if (this.state === 'BACKUP') this.sandsUs = now + this.msDownTimerUs;
    else this.sandsUs = Number.POSITIVE_INFINITY;
    this.timer?.cancel();
    this.timer = undefined;
    if (Number.isFinite(this.sandsUs)) {
      this.timer = this.host.clock.setTimer(this.sandsUs - now, () => this.onTimer());
    }
  }

  /**
   * Start (vrrp_init_state): an address owner configured MASTER times out of BACKUP at
   * once; everyone else waits a full Master_Down_Interval in BACKUP, or sits in FAULT while
   * a fault source is down, or in INIT while a weight-0 script has not reported.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.wantState = this.cfg.initialState;
    if (this.faultCount > 0) this.wantState = 'FAULT';
    const up = this.faultCount === 0 && this.initPending === 0;
    if (up && this.wantState === 'MASTER' && this.isOwner) {
      this.state = 'BACKUP';
      this.msDownTimerUs = 1;
    } else {
      this.msDownTimerUs = this.downInterval();
      if (up) this.setState('BACKUP');
      else if (this.faultCount > 0) this.setState('FAULT');
    }
    this.initSands();
  }

  /**
   * A reload (keepalived's restore_vrrp_state + vrrp_init_state with reload_master): this
   * instance replaces `prev`, the same virtual router in the file read before, and carries
   * on in its state with the new settings (priority, advert_int, ...). A MASTER stays
   * MASTER with its addresses (the router has added and removed the changed ones) and
   * advertises at once, then every advert_int: no gap, no election. A BACKUP stays BACKUP
   * with a fresh master down timer. Trackers (counted by the router before this) may still
   * take it to FAULT or out of it, as on a start. Unchanged states notify nobody.
   */
  resume(prev: VrrpInstance): void {
    if (this.started) return;
    this.started = true;
    Object.assign(this.stats, prev.stats);
    this.masterAddress = prev.masterAddress;
    this.masterPriority = prev.masterPriority;
    this.preemptTimeUs = this.cfg.preemptDelayMs > 0 ? prev.preemptTimeUs : 0;
    const up = this.faultCount === 0 && this.initPending === 0;
    if (prev.state === 'MASTER') {
      this.state = 'MASTER';
      this.vipSet = prev.vipSet;
      if (up) {
        this.wantState = 'MASTER';
        this.masterTx();
        this.initSands();
      } else {
        // vrrp_init_state: a master whose trackers now fail resigns and goes FAULT.
        this.wantState = 'FAULT';
        this.leaveMaster(false);
      }
      return;
    }
    this.state = prev.state === 'STOP' ? 'INIT' : prev.state;
    this.wantState = 'BACKUP';
    this.msDownTimerUs = this.downInterval();
    // A member of a group still in FAULT waits for the group (VrrpSyncGroup.resume).
    const groupFault = this.group?.state === 'FAULT' && this.state === 'FAULT';
    if (!up) this.setState('FAULT');
    else if (!groupFault) this.setState('BACKUP');
    this.initSands();
  }

  /** The deadline passed: BACKUP -> MASTER (vrrp_goto_master), MASTER -> send an advert. */
  onTimer(): void {
    this.timer = undefined;
    if (this.state === 'BACKUP') {
      this.wantState = 'MASTER';
      this.gotoMaster();
    } else if (this.state === 'MASTER') {
      this.masterTx();
      this.initSands();
    }
  }

  /** vrrp_state_goto_master. */
  gotoMaster(): void {
    if (this.group && !this.group.canGoMaster(this)) {
      // The group prefers BACKUP until every member wants MASTER (no thrashing).
      this.wantState = 'MASTER';
      this.msDownTimerUs = this.downInterval();
      this.initSands();
      return;
    }
    const from = this.state;
    this.state = 'MASTER';
    this.initSands();
    this.masterTx(from);
  }

  /** vrrp_state_master_tx: become master on the first call, then advertise. */
  private masterTx(from: VrrpStateName = 'MASTER'): void {
    if (!this.vipSet) {
      this.becomeMaster(from);
      if (this.cfg.garpMasterDelayMs > 0 && this.cfg.garpMasterRepeat > 0) {
        this.garpTimer = this.host.clock.setTimer(this.cfg.garpMasterDelayMs * 1000, () => {
          this.garpTimer = undefined;
          if (this.state === 'MASTER') this.host.sendGarp(this, this.cfg.garpMasterRepeat);
        });
      }
    }
    this.advertise(this.effectivePriority);
  }

  private becomeMaster(from: VrrpStateName): void {
    this.stats.becomeMaster++;
    this.host.setVips(this, true);
    this.vipSet = true;
    if (this.cfg.garpMasterRepeat > 0) this.host.sendGarp(this, this.cfg.garpMasterRepeat);
    // The state field already says MASTER (set before the first advert, as keepalived);
    // announce the change now that the addresses are up.
    if (from !== 'MASTER') this.host.stateChanged(this, from, 'MASTER');
    this.group?.memberMaster(this);
  }

  private advertise(priority: number): void {
    this.stats.advertsSent++;
    if (priority === VRRP_PRIO_STOP) this.stats.priorityZeroSent++;
    this.host.sendAdvert(this, priority);
  }

  /** vrrp_restore_interface: optionally resign (priority 0), drop the addresses. */
  private restoreInterface(resign: boolean): void {
    if (resign) this.advertise(VRRP_PRIO_STOP);
    this.garpTimer?.cancel();
    this.garpTimer = undefined;
    if (this.vipSet) {
      this.host.setVips(this, false);
      this.vipSet = false;
    }
  }

  /** vrrp_state_leave_master: to wantState (BACKUP or FAULT). */
  leaveMaster(resign: boolean): void {
    if (this.wantState === 'BACKUP') {
      this.preemptTimeUs = 0;
      this.masterAdverIntUs = this.adverIntUs;
    } else if (this.wantState === 'FAULT') {
      // keepalived sends priority 0 here (and again if resign): once is enough on the wire.
      if (!resign) this.advertise(VRRP_PRIO_STOP);
    } else {
      return;
    }
    this.restoreInterface(resign);
    this.setState(this.wantState);
    this.msDownTimerUs = this.downInterval();
    this.initSands();
    this.stats.releaseMaster++;
    if (this.state === 'BACKUP') this.group?.memberBackup(this);
  }

  /** vrrp_state_leave_fault: to wantState (MASTER via gotoMaster, BACKUP or FAULT). */
  leaveFault(): void {
    this.masterAdverIntUs = this.adverIntUs;
    this.msDownTimerUs = this.downInterval();
    if (this.wantState === 'MASTER') {
      this.gotoMaster();
      return;
    }
    if (this.wantState === 'FAULT' && this.state === 'MASTER') {
      this.advertise(VRRP_PRIO_STOP);
      this.restoreInterface(false);
    }
    if (this.wantState === 'BACKUP') this.preemptTimeUs = 0;
    this.setState(this.wantState);
    this.initSands();
  }

  /** A checked advert for this instance arrived (vrrp_dispatcher_read). */
  onAdvert(adv: ReceivedAdvert): void {
    this.stats.advertsReceived++;
    if (adv.priority === VRRP_PRIO_STOP) this.stats.priorityZeroReceived++;
    if (this.state === 'BACKUP') {
      this.backupRx(adv);
      this.initSands();
    } else if (this.state === 'MASTER') {
      if (this.masterRx(adv)) this.leaveMaster(false);
    }
    // FAULT / INIT / STOP: adverts are not acted on.
  }

  /** vrrp_state_backup. */
  private backupRx(adv: ReceivedAdvert): void {
    const now = this.now();
    if (adv.priority === VRRP_PRIO_STOP) {
      this.msDownTimerUs = this.skewUs();
      return;
    }
    const preemptRunning =
      this.cfg.preemptDelayMs > 0 && (this.preemptTimeUs === 0 || this.preemptTimeUs > now);
    if (this.cfg.nopreempt || adv.priority >= this.effectivePriority || preemptRunning) {
      if (this.cfg.version === 3) this.masterAdverIntUs = adv.intervalCs * TIMER_CENTI_HZ;
      this.msDownTimerUs = this.downInterval();
      this.masterAddress = adv.src;
      this.masterPriority = adv.priority;
      // A live master: any wish to go MASTER for the sync group is void.
      this.wantState = 'BACKUP';
      if (this.cfg.preemptDelayMs > 0) {
        if (adv.priority >= this.effectivePriority) this.preemptTimeUs = 0;
        else if (this.preemptTimeUs === 0)
          this.preemptTimeUs = now + this.cfg.preemptDelayMs * 1000;
      }
      return;
    }
    // A lower-priority master and nothing holds us back: ignore it, keep the timer running.
    this.stats.lowerPriorityDiscarded++;
    this.masterAddress = adv.src;
    this.msDownTimerUs = Math.max(0, this.sandsUs - now);
  }

  /** Compares the advert's source with ours like memcmp: > 0 when theirs is higher. */
  private addrCmp(adv: ReceivedAdvert): number {
    const ours = this.host.localAddress(this);
    if (!ours || ours.af !== adv.src.af) return 0;
    return Math.sign(adv.src.compare(ours));
  }

  /** vrrp_state_master_rx: true when we must leave MASTER for BACKUP. */
  private masterRx(adv: ReceivedAdvert): boolean {
    const cmp = this.addrCmp(adv);
    if (adv.priority === VRRP_PRIO_STOP) {
      // Another master resigned: make sure the backups hear from us now.
      this.advertise(this.effectivePriority);
      return false;
    }
    if (
      adv.priority === this.effectivePriority &&
      cmp !== 0 &&
      this.effectivePriority === VRRP_PRIO_OWNER
    ) {
      // Two address owners: keepalived reports a configuration error and steps down a notch.
      this.effectivePriority = VRRP_PRIO_OWNER - 1;
      this.totalPriority = VRRP_PRIO_OWNER - 1;
    }
    if (
      adv.priority < this.effectivePriority ||
      (adv.priority === this.effectivePriority && cmp < 0)
    ) {
      if (!this.cfg.lowerPrioNoAdvert) this.advertise(this.effectivePriority);
      if (this.cfg.garpLowerPrioRepeat > 0) {
        this.host.sendGarp(this, this.cfg.garpLowerPrioRepeat);
        if (this.cfg.garpLowerPrioDelayMs > 0) {
          this.host.clock.setTimer(this.cfg.garpLowerPrioDelayMs * 1000, () => {
            if (this.state === 'MASTER') this.host.sendGarp(this, this.cfg.garpLowerPrioRepeat);
          });
        }
      }
      return false;
    }
    if (
      adv.priority > this.effectivePriority ||
      (adv.priority === this.effectivePriority && cmp > 0)
    ) {
      if (this.cfg.version === 3) this.masterAdverIntUs = adv.intervalCs * TIMER_CENTI_HZ;
      this.msDownTimerUs = this.downInterval();
      this.masterPriority = adv.priority;
      this.masterAddress = adv.src;
      this.wantState = 'BACKUP';
      return true;
    }
    return false;
  }

  /**
   * Sets base + tracker weights and derives the effective priority as keepalived's
   * vrrp_set_effective_priority: an address owner stays 255; others are clamped to 1..254.
   */
  setTotalPriority(total: number): void {
    this.totalPriority = total;
    if (this.isOwner) return;
    this.effectivePriority = total < 1 ? 1 : total >= VRRP_PRIO_OWNER ? VRRP_PRIO_OWNER - 1 : total;
  }

  /** A fault source went down (down_instance). */
  down(): void {
    if (this.faultCount++ === 0 || this.state === 'INIT') {
      if (!this.started) return;
      this.wantState = 'FAULT';
      if (this.state === 'MASTER') this.leaveMaster(false);
      else this.leaveFault();
      this.group?.memberDown(this);
    }
  }

  /** A fault source came back up (try_up_instance). */
  up(): void {
    if (this.faultCount > 0) this.faultCount--;
    this.tryUp();
  }

  /** A weight-0 script reported for the first time. */
  initDone(): void {
    if (this.initPending > 0) this.initPending--;
    this.tryUp();
  }

  private tryUp(): void {
    if (!this.started || this.faultCount > 0 || this.initPending > 0) return;
    if (this.state !== 'FAULT' && this.state !== 'INIT') return;
    this.wantState = this.cfg.initialState === 'MASTER' && this.isOwner ? 'MASTER' : 'BACKUP';
    this.masterAdverIntUs = this.adverIntUs;
    if (this.group && !this.group.memberUp(this)) return;
    if (this.group && this.wantState === 'MASTER' && !this.group.canGoMaster(this)) {
      this.wantState = 'BACKUP';
    }
    this.leaveFault();
    if ((this.state as VrrpStateName) === 'BACKUP') this.group?.memberBackup(this);
  }

  /**
   * Handed over to its successor in a reload: timers stop, the state, the addresses and
   * the group are left as they are (the successor's), nothing is sent or notified.
   */
  retire(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.garpTimer?.cancel();
    this.garpTimer = undefined;
    this.sandsUs = Number.POSITIVE_INFINITY;
    this.started = false;
  }

  /**
   * Clean stop (keepalived's shutdown): a master sends priority 0 and drops its addresses;
   * every instance ends in STOP.
   */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.state === 'MASTER') this.restoreInterface(true);
    this.garpTimer?.cancel();
    this.garpTimer = undefined;
    this.sandsUs = Number.POSITIVE_INFINITY;
    this.setState('STOP');
  }
}
