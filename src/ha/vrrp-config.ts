/**
 * The runtime configuration VRRP runs from: what keepalived's `global_defs` (VRRP part),
 * `vrrp_script`, `vrrp_sync_group` and `vrrp_instance` blocks mean once parsed, with
 * keepalived's defaults filled in (vrrp_data.c alloc_vrrp / alloc_vrrp_script, vrrp.h).
 *
 * The keepalived.conf reader (src/keepalived/) produces its own model; the integrator maps
 * that model to `VrrpConfigInput` (plain JSON: addresses as text) and calls
 * `resolveVrrpConfig`, which validates the whole thing and returns `VrrpConfig` or throws a
 * `VrrpConfigError` naming the field (`vrrp_instance VI_1: priority ...`). Nothing runs
 * from a config that did not resolve.
 */
import { AF_INET, AF_INET6, InetAddr } from '../net/addr.js';
import { VRRP_PRIO_OWNER, type VrrpVersion } from './vrrp-packet.js';

export class VrrpConfigError extends Error {
  override name = 'VrrpConfigError';
}

/** A `virtual_ipaddress` line resolved: `ADDR[/LEN] [brd B] [dev IF] [scope S] [label L] ...`. */
export interface VirtualAddress {
  addr: InetAddr;
  /** Prefix length; keepalived's default is the full length (/32, /128). */
  prefixLen: number;
  /** Interface the address goes on (default: the instance's interface). */
  dev: string;
  label?: string;
  brd?: InetAddr;
  scope?: string;
  noprefixroute?: boolean;
  /** The line as written (for logs). */
  text: string;
}

export interface UnicastPeer {
  address: InetAddr;
  minTtl?: number;
  maxTtl?: number;
}

/** `track_script { NAME [weight W [reverse|noreverse]] }` of an instance or group. */
export interface TrackScriptRef {
  script: string;
  /** Overrides the script's own weight when given. */
  weight?: number;
  reverse?: boolean;
}

/** `track_interface { IF [weight W [reverse|noreverse]] }`. */
export interface TrackInterfaceRef {
  name: string;
  weight?: number;
  reverse?: boolean;
}

/** Notify hooks: command lines run as keepalived runs them (argv split, no shell). */
export interface NotifyScripts {
  master?: string;
  backup?: string;
  fault?: string;
  stop?: string;
  /** Generic: gets `INSTANCE|GROUP NAME STATE PRIORITY` appended. */
  notify?: string;
}

export interface VrrpScriptConfig {
  name: string;
  /** Command line (argv split, no shell), exit 0 = OK. */
  script: string;
  intervalMs: number;
  timeoutMs: number;
  weight: number;
  reverse: boolean;
  rise: number;
  fall: number;
  /** init_fail: start in the failed state instead of waiting for the first result. */
  initFail: boolean;
}

export interface VrrpInstanceConfig {
  name: string;
  interface: string;
  vrid: number;
  /** `state MASTER|BACKUP`: the wanted initial state (MASTER only matters with priority 255). */
  initialState: 'MASTER' | 'BACKUP';
  priority: number;
  version: VrrpVersion;
  advertIntervalMs: number;
  nopreempt: boolean;
  preemptDelayMs: number;
  virtualAddresses: VirtualAddress[];
  /** Source of adverts: unicast_src_ip, else the interface's primary address. */
  unicastSrcIp?: InetAddr;
  unicastPeers: UnicastPeer[];
  unicastTtl: number;
  /** `authentication { auth_type PASS; auth_pass X }` (v2 only). */
  authPass?: string;
  trackScripts: TrackScriptRef[];
  trackInterfaces: TrackInterfaceRef[];
  /** dont_track_primary: the instance's own interface going down does not mean FAULT. */
  dontTrackPrimary: boolean;
  notify: NotifyScripts;
  garpMasterDelayMs: number;
  garpMasterRepeat: number;
  garpLowerPrioRepeat: number;
  garpLowerPrioDelayMs: number;
  lowerPrioNoAdvert: boolean;
  skipCheckAdvAddr: boolean;
  checkUnicastSrc: boolean;
  /** v3 over IPv4: send the checksum without the pseudo-header (keepalived >= 2.2.8 option). */
  v3ChecksumAsV2: boolean;
  downTimerAdverts: number;
}

export interface VrrpSyncGroupConfig {
  name: string;
  members: string[];
  notify: NotifyScripts;
  trackScripts: TrackScriptRef[];
  trackInterfaces: TrackInterfaceRef[];
}

export interface VrrpGlobalConfig {
  /** vrrp_notify_fifo: a FIFO (or file) that gets one line per state change. */
  notifyFifo?: string;
}

export interface VrrpConfig {
  global: VrrpGlobalConfig;
  scripts: VrrpScriptConfig[];
  instances: VrrpInstanceConfig[];
  syncGroups: VrrpSyncGroupConfig[];
}

// ---------------------------------------------------------------------------------------
// Input (JSON-friendly) and resolution
// ---------------------------------------------------------------------------------------

export interface VrrpInstanceInput {
  name: string;
  interface: string;
  virtual_router_id: number;
  state?: 'MASTER' | 'BACKUP';
  priority?: number;
  version?: 2 | 3;
  advert_int?: number;
  nopreempt?: boolean;
  preempt_delay?: number;
  /** keepalived's forms: "198.18.0.100/24 dev eth1 label eth1:1". */
  virtual_ipaddress?: string[];
  unicast_src_ip?: string;
  unicast_peer?: Array<string | { address: string; min_ttl?: number; max_ttl?: number }>;
  unicast_ttl?: number;
  auth_pass?: string;
  track_script?: Array<string | TrackScriptRef>;
  track_interface?: Array<string | TrackInterfaceRef>;
  dont_track_primary?: boolean;
  notify_master?: string;
  notify_backup?: string;
  notify_fault?: string;
  notify_stop?: string;
  notify?: string;
  garp_master_delay?: number;
  garp_master_repeat?: number;
  garp_lower_prio_repeat?: number;
  garp_lower_prio_delay?: number;
  lower_prio_no_advert?: boolean;
  skip_check_adv_addr?: boolean;
  check_unicast_src?: boolean;
  v3_checksum_as_v2?: boolean;
  down_timer_adverts?: number;
}

export interface VrrpScriptInput {
  name: string;
  script: string;
  interval?: number;
  timeout?: number;
  weight?: number;
  reverse?: boolean;
  rise?: number;
  fall?: number;
  init_fail?: boolean;
}

export interface VrrpSyncGroupInput {
  name: string;
  group: string[];
  notify_master?: string;
  notify_backup?: string;
  notify_fault?: string;
  notify_stop?: string;
  notify?: string;
  track_script?: Array<string | TrackScriptRef>;
  track_interface?: Array<string | TrackInterfaceRef>;
}

export interface VrrpConfigInput {
  global_defs?: {
    vrrp_notify_fifo?: string;
    vrrp_version?: 2 | 3;
    vrrp_garp_master_delay?: number;
    vrrp_garp_master_repeat?: number;
    vrrp_check_unicast_src?: boolean;
  };
  vrrp_script?: VrrpScriptInput[];
  vrrp_instance: VrrpInstanceInput[];
  vrrp_sync_group?: VrrpSyncGroupInput[];
}

const INSTANCE_KEYS = new Set([
  'name',
  'interface',
  'virtual_router_id',
  'state',
  'priority',
  'version',
  'advert_int',
  'nopreempt',
  'preempt_delay',
  'virtual_ipaddress',
  'unicast_src_ip',
  'unicast_peer',
  'unicast_ttl',
  'auth_pass',
  'track_script',
  'track_interface',
  'dont_track_primary',
  'notify_master',
  'notify_backup',
  'notify_fault',
  'notify_stop',
  'notify',
  'garp_master_delay',
  'garp_master_repeat',
  'garp_lower_prio_repeat',
  'garp_lower_prio_delay',
  'lower_prio_no_advert',
  'skip_check_adv_addr',
  'check_unicast_src',
  'v3_checksum_as_v2',
  'down_timer_adverts',
]);
const SCRIPT_KEYS = new Set([
  'name',
  'script',
  'interval',
  'timeout',
  'weight',
  'reverse',
  'rise',
  'fall',
  'init_fail',
]);
const GROUP_KEYS = new Set([
  'name',
  'group',
  'notify_master',
  'notify_backup',
  'notify_fault',
  'notify_stop',
  'notify',
  'track_script',
  'track_interface',
]);
const GLOBAL_KEYS = new Set([
  'vrrp_notify_fifo',
  'vrrp_version',
  'vrrp_garp_master_delay',
  'vrrp_garp_master_repeat',
  'vrrp_check_unicast_src',
]);
const TOP_KEYS = new Set(['global_defs', 'vrrp_script', 'vrrp_instance', 'vrrp_sync_group']);

/** Refuses keywords we do not implement rather than running without them. */
function onlyKnown(where: string, obj: unknown, known: Set<string>): void {
  if (obj === null || typeof obj !== 'object') fail(where, 'must be an object');
  for (const k of Object.keys(obj as object)) {
    if (!known.has(k)) fail(where, `unsupported keyword '${k}'`);
  }
}

function fail(where: string, msg: string): never {
  throw new VrrpConfigError(`${where}: ${msg}`);
}

function intIn(where: string, name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    fail(where, `${name} must be an integer in ${lo}..${hi}, got ${JSON.stringify(v)}`);
  return v;
}

/** Seconds (keepalived accepts fractions for advert_int and script intervals) to ms. */
function secondsMs(where: string, name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi)
    fail(where, `${name} must be a number of seconds in ${lo}..${hi}, got ${JSON.stringify(v)}`);
  return Math.round(v * 1000);
}

function addr(where: string, name: string, s: unknown): InetAddr {
  const a = typeof s === 'string' ? InetAddr.parse(s) : null;
  if (!a) fail(where, `${name}: not an IP address: ${JSON.stringify(s)}`);
  return a;
}

/**
 * Parses one `virtual_ipaddress` line in keepalived's grammar (vrrp_ipaddress.c
 * parse_ipaddress): `ADDR[/LEN] [brd ADDR] [dev IF] [scope SCOPE] [label LABEL]
 * [noprefixroute]`; other keepalived words (home, -nodad, autojoin, preferred_lft) are
 * refused rather than silently ignored.
 */
export function parseVirtualAddress(text: string, defaultDev: string): VirtualAddress {
  const words = text.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw new VrrpConfigError('empty virtual_ipaddress line');
  const [a, len] = words[0].split('/');
  const ip = InetAddr.parse(a);
  if (!ip) throw new VrrpConfigError(`virtual_ipaddress '${text}': bad address '${a}'`);
  let prefixLen = ip.bits;
  if (len !== undefined) {
    if (!/^\d{1,3}$/.test(len) || Number(len) > ip.bits)
      throw new VrrpConfigError(`virtual_ipaddress '${text}': bad prefix length '/${len}'`);
    prefixLen = Number(len);
  }
  const va: VirtualAddress = { addr: ip, prefixLen, dev: defaultDev, text: text.trim() };
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    const next = () => {
      const v = words[++i];
      if (v === undefined)
        throw new VrrpConfigError(`virtual_ipaddress '${text}': '${w}' needs a value`);
      return v;
    };
    if (w === 'dev') va.dev = next();
    else if (w === 'label') va.label = next();
    else if (w === 'scope') va.scope = next();
    else if (w === 'brd' || w === 'broadcast') {
      const b = InetAddr.parse(next());
      if (!b || b.af !== AF_INET) throw new VrrpConfigError(`virtual_ipaddress '${text}': bad brd`);
      va.brd = b;
    } else if (w === 'noprefixroute') va.noprefixroute = true;
    else throw new VrrpConfigError(`virtual_ipaddress '${text}': unsupported option '${w}'`);
  }
  if (va.label !== undefined && !va.label.startsWith(va.dev))
    throw new VrrpConfigError(
      `virtual_ipaddress '${text}': label must start with the device name '${va.dev}'`,
    );
  return va;
}

function trackScripts(
  where: string,
  list: Array<string | TrackScriptRef> | undefined,
): TrackScriptRef[] {
  return (list ?? []).map((t) => {
    const r = typeof t === 'string' ? { script: t } : { ...t };
    if (r.weight !== undefined)
      intIn(where, `track_script ${r.script} weight`, r.weight, -253, 253);
    return r;
  });
}

function trackIfs(
  where: string,
  list: Array<string | TrackInterfaceRef> | undefined,
): TrackInterfaceRef[] {
  return (list ?? []).map((t) => {
    const r = typeof t === 'string' ? { name: t } : { ...t };
    if (r.weight !== undefined)
      intIn(where, `track_interface ${r.name} weight`, r.weight, -253, 253);
    return r;
  });
}

/** Validates `input` as a whole and fills in keepalived's defaults. */
export function resolveVrrpConfig(input: VrrpConfigInput): VrrpConfig {
  onlyKnown('config', input, TOP_KEYS);
  const g = input.global_defs ?? {};
  onlyKnown('global_defs', g, GLOBAL_KEYS);
  for (const s of input.vrrp_script ?? []) onlyKnown(`vrrp_script ${s?.name}`, s, SCRIPT_KEYS);
  for (const i of input.vrrp_instance ?? [])
    onlyKnown(`vrrp_instance ${i?.name}`, i, INSTANCE_KEYS);
  for (const sg of input.vrrp_sync_group ?? [])
    onlyKnown(`vrrp_sync_group ${sg?.name}`, sg, GROUP_KEYS);
  const defVersion = g.vrrp_version ?? 2;
  if (defVersion !== 2 && defVersion !== 3) fail('global_defs', 'vrrp_version must be 2 or 3');
  const scripts: VrrpScriptConfig[] = (input.vrrp_script ?? []).map((s) => {
    const w = `vrrp_script ${s.name}`;
    if (!s.script) fail(w, 'script is required');
    const intervalMs = secondsMs(w, 'interval', s.interval ?? 1, 0.001, 86400);
    return {
      name: s.name,
      script: s.script,
      intervalMs,
      timeoutMs:
        s.timeout === undefined ? intervalMs : secondsMs(w, 'timeout', s.timeout, 0.001, 86400),
      weight: intIn(w, 'weight', s.weight ?? 0, -253, 253),
      reverse: s.reverse ?? false,
      rise: intIn(w, 'rise', s.rise ?? 1, 1, 1000),
      fall: intIn(w, 'fall', s.fall ?? 1, 1, 1000),
      initFail: s.init_fail ?? false,
    };
  });
  const scriptNames = new Set(scripts.map((s) => s.name));
  if (scriptNames.size !== scripts.length) fail('vrrp_script', 'duplicate script name');
  if (!Array.isArray(input.vrrp_instance) || input.vrrp_instance.length === 0)
    fail('vrrp_instance', 'at least one instance is required');
  const instances = input.vrrp_instance.map((i) => resolveInstance(i, g, defVersion, scriptNames));
  const names = new Set<string>();
  const seen = new Set<string>();
  for (const i of instances) {
    if (names.has(i.name)) fail(`vrrp_instance ${i.name}`, 'duplicate instance name');
    names.add(i.name);
    const key = `${i.interface}/${i.vrid}/${i.virtualAddresses[0]?.addr.af ?? AF_INET}`;
    if (seen.has(key))
      fail(`vrrp_instance ${i.name}`, `VRID ${i.vrid} is already used on ${i.interface}`);
    seen.add(key);
  }
  const inGroup = new Set<string>();
  const syncGroups = (input.vrrp_sync_group ?? []).map((sg) => {
    const w = `vrrp_sync_group ${sg.name}`;
    if (!Array.isArray(sg.group) || sg.group.length < 2)
      fail(w, 'a sync group needs two or more instances');
    for (const m of sg.group) {
      if (!names.has(m)) fail(w, `unknown instance ${m}`);
      if (inGroup.has(m)) fail(w, `instance ${m} is already in a sync group`);
      inGroup.add(m);
    }
    const ts = trackScripts(w, sg.track_script);
    for (const t of ts) if (!scriptNames.has(t.script)) fail(w, `unknown track_script ${t.script}`);
    return {
      name: sg.name,
      members: [...sg.group],
      notify: {
        master: sg.notify_master,
        backup: sg.notify_backup,
        fault: sg.notify_fault,
        stop: sg.notify_stop,
        notify: sg.notify,
      },
      trackScripts: ts,
      trackInterfaces: trackIfs(w, sg.track_interface),
    };
  });
  // keepalived: in a sync group, tracker weights are forced to 0 (they mean FAULT).
  for (const sg of syncGroups) {
    for (const m of sg.members) {
      const inst = instances.find((i) => i.name === m)!;
      for (const t of inst.trackScripts) t.weight = 0;
      for (const t of inst.trackInterfaces) t.weight = 0;
    }
    for (const t of sg.trackScripts) t.weight = 0;
    for (const t of sg.trackInterfaces) t.weight = 0;
  }
  return { global: { notifyFifo: g.vrrp_notify_fifo }, scripts, instances, syncGroups };
}

function resolveInstance(
  i: VrrpInstanceInput,
  g: NonNullable<VrrpConfigInput['global_defs']>,
  defVersion: VrrpVersion,
  scriptNames: Set<string>,
): VrrpInstanceConfig {
  const w = `vrrp_instance ${i.name}`;
  if (!i.name || !/^[\w.:-]{1,64}$/.test(i.name)) fail(w, 'name must be 1-64 of [A-Za-z0-9_.:-]');
  if (!i.interface || !/^[\w.:@-]{1,15}$/.test(i.interface))
    fail(w, 'interface is required (an interface name)');
  const vrid = intIn(w, 'virtual_router_id', i.virtual_router_id, 1, 255);
  const vips = (i.virtual_ipaddress ?? []).map((t) => {
    try {
      return parseVirtualAddress(t, i.interface);
    } catch (e) {
      return fail(w, (e as Error).message);
    }
  });
  const family = vips[0]?.addr.af ?? AF_INET;
  if (vips.some((v) => v.addr.af !== family)) fail(w, 'virtual_ipaddress mixes IPv4 and IPv6');
  if (family === AF_INET6)
    fail(w, 'IPv6 instances are not run yet (the codec supports VRRPv3/IPv6; the I/O is IPv4)');
  const version = i.version ?? defVersion;
  if (version !== 2 && version !== 3) fail(w, 'version must be 2 or 3');
  if (version === 3 && vips.length === 0) fail(w, 'VRRPv3 needs at least one virtual_ipaddress');
  if (vips.length > 255) fail(w, 'at most 255 virtual addresses per instance');
  const priority = intIn(w, 'priority', i.priority ?? 100, 1, VRRP_PRIO_OWNER);
  const advertIntervalMs = secondsMs(
    w,
    'advert_int',
    i.advert_int ?? 1,
    0.01,
    version === 2 ? 255 : 40.95,
  );
  if (version === 2 && advertIntervalMs % 1000 !== 0)
    fail(w, 'advert_int must be whole seconds with VRRPv2 (use version 3 for fractions)');
  if (version === 3 && advertIntervalMs % 10 !== 0)
    fail(w, 'advert_int must be a multiple of 0.01 s');
  const state = i.state ?? 'BACKUP';
  if (state !== 'MASTER' && state !== 'BACKUP') fail(w, "state must be 'MASTER' or 'BACKUP'");
  if (i.nopreempt && state === 'MASTER') fail(w, 'nopreempt requires state BACKUP (as keepalived)');
  const peers: UnicastPeer[] = (i.unicast_peer ?? []).map((p) => {
    const o = typeof p === 'string' ? { address: p } : p;
    const peer: UnicastPeer = { address: addr(w, 'unicast_peer', o.address) };
    if (o.min_ttl !== undefined) peer.minTtl = intIn(w, 'min_ttl', o.min_ttl, 0, 255);
    if (o.max_ttl !== undefined) peer.maxTtl = intIn(w, 'max_ttl', o.max_ttl, 0, 255);
    return peer;
  });
  if (peers.some((p) => p.address.af !== family))
    fail(w, 'unicast_peer family differs from the VIPs');
  const src =
    i.unicast_src_ip === undefined ? undefined : addr(w, 'unicast_src_ip', i.unicast_src_ip);
  if (i.auth_pass !== undefined && version !== 2) fail(w, 'authentication needs VRRPv2');
  if (i.auth_pass !== undefined && i.auth_pass.length === 0) fail(w, 'auth_pass is empty');
  const ts = trackScripts(w, i.track_script);
  for (const t of ts) if (!scriptNames.has(t.script)) fail(w, `unknown track_script ${t.script}`);
  return {
    name: i.name,
    interface: i.interface,
    vrid,
    initialState: state,
    priority,
    version,
    advertIntervalMs,
    nopreempt: i.nopreempt ?? false,
    preemptDelayMs: secondsMs(w, 'preempt_delay', i.preempt_delay ?? 0, 0, 1000),
    virtualAddresses: vips,
    unicastSrcIp: src,
    unicastPeers: peers,
    unicastTtl: intIn(w, 'unicast_ttl', i.unicast_ttl ?? 255, 1, 255),
    authPass: i.auth_pass,
    trackScripts: ts,
    trackInterfaces: trackIfs(w, i.track_interface),
    dontTrackPrimary: i.dont_track_primary ?? false,
    notify: {
      master: i.notify_master,
      backup: i.notify_backup,
      fault: i.notify_fault,
      stop: i.notify_stop,
      notify: i.notify,
    },
    garpMasterDelayMs: secondsMs(
      w,
      'garp_master_delay',
      i.garp_master_delay ?? g.vrrp_garp_master_delay ?? 5,
      0,
      255,
    ),
    garpMasterRepeat: intIn(
      w,
      'garp_master_repeat',
      i.garp_master_repeat ?? g.vrrp_garp_master_repeat ?? 5,
      0,
      255,
    ),
    garpLowerPrioRepeat: intIn(w, 'garp_lower_prio_repeat', i.garp_lower_prio_repeat ?? 0, 0, 255),
    garpLowerPrioDelayMs: secondsMs(
      w,
      'garp_lower_prio_delay',
      i.garp_lower_prio_delay ?? 0,
      0,
      255,
    ),
    lowerPrioNoAdvert: i.lower_prio_no_advert ?? false,
    skipCheckAdvAddr: i.skip_check_adv_addr ?? false,
    checkUnicastSrc: i.check_unicast_src ?? g.vrrp_check_unicast_src ?? false,
    v3ChecksumAsV2: i.v3_checksum_as_v2 ?? false,
    downTimerAdverts: intIn(w, 'down_timer_adverts', i.down_timer_adverts ?? 3, 1, 100),
  };
}
