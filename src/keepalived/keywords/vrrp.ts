/**
 * The VRRP blocks (keepalived/vrrp/vrrp_parser.c, 2.2.7): vrrp_instance, vrrp_sync_group,
 * vrrp_script, static_ipaddress / static_routes / static_rules, track_group, garp_group,
 * linkbeat_interfaces, vrrp_track_process and interface_up_down_delays. They are read and
 * checked into the model; running them is the HA work's.
 */
import { type AddressFamily, AF_INET, AF_INET6, type InetAddr } from '../../net/addr.js';
import type { DiagnosticList, Loc } from '../diagnostics.js';
import { INT_MAX, readDecimal, readInt, readUnsigned, UINT_MAX } from '../grammar/numbers.js';
import type { Keyword, KeywordContext } from '../grammar/parser.js';
import type { HostProbe } from '../host.js';
import type {
  GlobalDefs,
  IpAddressSpec,
  RawKeyword,
  RouteSpec,
  RuleSpec,
  ScriptSpec,
  TrackReference,
  UnicastPeer,
  VrrpInstance,
  VrrpNotify,
} from '../model.js';
import {
  atLeastOneAt,
  optionalBool,
  parseSockAddr,
  scriptFrom,
  scriptFromRest,
  unsignedAt,
} from './values.js';

const IFNAMSIZ = 16;
const TIMER_HZ = 1_000_000;
const TIMER_MAX_SEC = 1000;
/** The largest whole-second timer keepalived reads (its timers count microseconds in 32 bits). */
const MAX_TIMER_SECONDS = Math.floor(UINT_MAX / TIMER_HZ);

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** The track lists an instance and a sync group fill as their blocks are read. */
interface TrackedDraft {
  readonly name: string;
  readonly trackInterfaces: TrackReference[];
  readonly trackScripts: TrackReference[];
  readonly trackFiles: TrackReference[];
}

export interface VrrpInstanceDraft extends TrackedDraft {
  readonly name: string;
  state?: 'MASTER' | 'BACKUP';
  interface?: string;
  vrid?: number;
  priority: number;
  advertInt: number;
  version?: 2 | 3;
  family?: AddressFamily;
  nopreempt: boolean;
  preemptDelay: number;
  auth?: { type?: 'PASS' | 'AH'; password?: string };
  readonly vips: IpAddressSpec[];
  readonly evips: IpAddressSpec[];
  readonly routes: RouteSpec[];
  readonly rules: RuleSpec[];
  unicastSrc?: InetAddr;
  readonly peers: UnicastPeer[];
  readonly notify: Writable<VrrpInstance['notify']>;
  notifyDeleted: boolean;
  smtpAlert?: boolean;
  useVmac?: string | true;
  ttl?: number;
  readonly keywords: RawKeyword[];
  readonly loc: Loc;
}

export interface SyncGroupDraft extends TrackedDraft {
  readonly name: string;
  instances?: string[];
  readonly notify: Writable<VrrpNotify>;
  smtpAlert?: boolean;
  readonly loc: Loc;
}

export interface VrrpScriptDraft {
  readonly name: string;
  script?: ScriptSpec;
  interval: number;
  timeout?: number;
  weight: number;
  weightReverse: boolean;
  rise: number;
  fall: number;
  initFail: boolean;
  user?: string;
  group?: string;
  readonly loc: Loc;
}

export interface VrrpDrafts {
  readonly instances: VrrpInstanceDraft[];
  readonly syncGroups: SyncGroupDraft[];
  readonly scripts: VrrpScriptDraft[];
  readonly staticIpaddress: IpAddressSpec[];
  readonly staticRoutes: RouteSpec[];
  readonly staticRules: RuleSpec[];
  readonly other: RawKeyword[];
  readonly trackProcesses: string[];
  /** An interface named anywhere did not exist (keepalived fails the test at the end). */
  missingInterface: boolean;
}

export interface VrrpKeywordsOptions {
  readonly host: HostProbe;
  /** The parent pass's global_defs (dynamic_interfaces, default_interface). */
  readonly globals: GlobalDefs;
  hasTrackFile(name: string): boolean;
  hasBfdInstance(name: string): boolean;
}

const ROUTE_TYPES = [
  'unicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'nat',
];
const ROUTE_VALUE_OPTIONS = [
  'dev',
  'oif',
  'scope',
  'table',
  'metric',
  'priority',
  'preference',
  'proto',
  'protocol',
  'realms',
  'realm',
  'mtu',
  'advmss',
  'rtt',
  'rttvar',
  'reordering',
  'window',
  'cwnd',
  'ssthresh',
  'initcwnd',
  'initrwnd',
  'features',
  'congctl',
  'rto_min',
  'hoplimit',
  'pref',
  'expires',
  'tos',
  'dsfield',
  'track_group',
  'encap',
  'weight',
  'as',
  'ttl-propagate',
  'fastopen_no_cookie',
];
const ROUTE_FLAGS = ['onlink', 'no_track', 'quickack', 'lock', 'pervasive'];
const RULE_VALUE_OPTIONS = [
  'from',
  'to',
  'table',
  'lookup',
  'preference',
  'prio',
  'priority',
  'tos',
  'dsfield',
  'fwmark',
  'iif',
  'oif',
  'goto',
  'realms',
  'suppress_prefixlength',
  'suppress_ifgroup',
  'uidrange',
  'sport',
  'dport',
  'ipproto',
  'l3mdev',
  'protocol',
  'track_group',
  'nat',
  'map-to',
];
const RULE_FLAGS = ['not', 'no_track', 'l3mdev', 'blackhole', 'unreachable', 'prohibit', 'nop'];
const RULE_ACTIONS = ['unicast', 'blackhole', 'unreachable', 'prohibit', 'nop'];

type TrackKind = 'interface' | 'script' | 'file' | 'process' | 'bfd';
type TrackList = 'trackInterfaces' | 'trackScripts' | 'trackFiles';
/** The track blocks of an instance and of a sync group: keyword, kind, where they are kept. */
const TRACK_KEYWORDS: readonly (readonly [string, TrackKind, TrackList | undefined])[] = [
  ['track_interface', 'interface', 'trackInterfaces'],
  ['track_script', 'script', 'trackScripts'],
  ['track_file', 'file', 'trackFiles'],
  ['track_process', 'process', undefined],
  ['track_bfd', 'bfd', undefined],
];

export function vrrpKeywords(
  d: VrrpDrafts,
  diags: DiagnosticList,
  opts: VrrpKeywordsOptions,
): Keyword[] {
  const host = opts.host;
  const ifaces = host.interfaces();
  let rulePreference = 16384;
  let garpHasDelay = false;
  const ifaceExists = (name: string): boolean =>
    ifaces === null || ifaces.has(name) || opts.globals.dynamicInterfaces;
  const noteMissing = (loc: Loc, message: string) => {
    d.missingInterface = true;
    diags.error(loc, message);
  };

  const vi = (): VrrpInstanceDraft => d.instances[d.instances.length - 1];
  const viKeyword = (
    name: string,
    fn: (ctx: KeywordContext, v: VrrpInstanceDraft) => void,
  ): Keyword => ({
    name,
    handler: (ctx) => {
      const v = vi();
      v.keywords.push({ keyword: name, args: ctx.words.slice(1), loc: ctx.loc });
      fn(ctx, v);
    },
  });
  const flagKw = (name: string, fn?: (v: VrrpInstanceDraft) => void) =>
    viKeyword(name, (_ctx, v) => fn?.(v));
  const boolKw = (name: string, label: string) =>
    viKeyword(name, (ctx, v) => {
      optionalBool(ctx, (w) => `(${v.name}) invalid ${label} ${w} specified`);
    });
  /**
   * An address of the instance's family (a unicast peer, the source); the first one sets the
   * family. Undefined (and an error at `loc`) when malformed or of the other family.
   */
  const instanceAddress = (
    v: VrrpInstanceDraft,
    text: string,
    what: string,
    loc: Loc,
  ): InetAddr | undefined => {
    const r = parseSockAddr(text);
    if (!r.ok) {
      diags.error(
        loc,
        `Configuration error: VRRP instance[${v.name}] malformed ${what}[${text}]. Skipping...`,
      );
      return undefined;
    }
    if (v.family !== undefined && v.family !== r.addr.af) {
      diags.error(
        loc,
        `Configuration error: VRRP instance[${v.name}] and ${what}[${text}] MUST be of the same family !!! Skipping...`,
      );
      return undefined;
    }
    v.family ??= r.addr.af;
    return r.addr;
  };
  /** An instance's one-byte value (VRID, TTL) in [min, 255]. */
  const byteAt = (ctx: KeywordContext, min: number, what: string, v: VrrpInstanceDraft) =>
    unsignedAt(
      ctx,
      1,
      min,
      255,
      (w) => `(${v.name}): ${what} '${w}' not valid - must be between ${min} & 255`,
    );
  /** An instance keyword whose unsigned value is checked, not kept (GARP timings, debug). */
  const uintKw = (
    name: string,
    min: number,
    max: number,
    message: (instance: string, word: string) => string,
  ) =>
    viKeyword(name, (ctx, v) => {
      unsignedAt(ctx, 1, min, max, (w) => message(v.name, w));
    });
  /** A GARP repeat count: 0 is read as 1. */
  const repeatKw = (name: string) =>
    viKeyword(name, (ctx, v) => {
      atLeastOneAt(
        ctx,
        1,
        UINT_MAX,
        (w) => `(${v.name}): ${name} '${w}' invalid - ignoring`,
        `(${v.name}): ${name}`,
      );
    });
  const notifyKw = (name: string, slot: keyof VrrpInstanceDraft['notify'], extra: string) =>
    viKeyword(name, (ctx, v) => {
      if (v.notify[slot]) {
        ctx.error(`(${v.name}) ${extra} script already specified - ignoring ${ctx.word(1)}`);
        return;
      }
      v.notify[slot] = scriptFrom(ctx, 'notify');
    });

  /** An IP address line (virtual_ipaddress, static_ipaddress): IP[/LEN] [options]. */
  const ipAddress = (
    words: string[],
    loc: Loc,
    owner: string,
    family: () => AddressFamily | undefined,
    setFamily?: (f: AddressFamily) => void,
  ): IpAddressSpec | undefined => {
    const w = words;
    const slash = w[0].indexOf('/');
    const addrText = slash >= 0 ? w[0].slice(0, slash) : w[0];
    const r = parseSockAddr(addrText);
    let prefixLen = r.ok ? r.addr.bits : 0;
    if (slash >= 0) {
      const n = /^\d+$/.test(w[0].slice(slash + 1)) ? Number(w[0].slice(slash + 1)) : Number.NaN;
      if (!(n >= 0 && n <= (r.ok ? r.addr.bits : 128))) {
        diags.error(loc, `VRRP parsed invalid IP ${w[0]}. skipping IP...`);
        return undefined;
      }
      prefixLen = n;
    }
    if (!r.ok) {
      diags.error(loc, `VRRP parsed invalid IP ${w[0]}. skipping IP...`);
      return undefined;
    }
    const f = family();
    if (f !== undefined && f !== r.addr.af && setFamily) {
      diags.error(loc, `(${owner}): address family must match VRRP instance [${w[0]}] - ignoring`);
      return undefined;
    }
    if (f === undefined) setFamily?.(r.addr.af);
    const spec: { -readonly [K in keyof IpAddressSpec]: IpAddressSpec[K] } = {
      addr: r.addr,
      prefixLen,
      options: [],
      loc,
    };
    const valueOpts: Record<string, keyof IpAddressSpec> = {
      dev: 'dev',
      brd: 'broadcast',
      broadcast: 'broadcast',
      scope: 'scope',
      label: 'label',
      peer: 'peer',
      track_group: 'trackGroup',
    };
    for (let i = 1; i < w.length; i++) {
      const o = w[i];
      const field = valueOpts[o];
      if (field !== undefined) {
        const v = w[++i];
        if (v === undefined) {
          diags.error(loc, `${o} missing value for ip address ${w[0]}`);
          return undefined;
        }
        (spec as Record<string, unknown>)[field] = v;
        if (o === 'dev' && !ifaceExists(v)) {
          noteMissing(loc, `WARNING - interface ${v} for ip address ${w[0]} doesn't exist`);
        }
        continue;
      }
      if (
        [
          'home',
          '-nodad',
          'nodad',
          'noprefixroute',
          'autojoin',
          'no_track',
          'preferred_lft',
        ].includes(o)
      ) {
        (spec.options as string[]).push(o);
        if (o === 'preferred_lft') i++;
        continue;
      }
      diags.error(loc, `Unknown configuration entry '${o}' for ip address - ignoring`);
    }
    return spec;
  };

  /** A route line: [src IP] DST [via|gw IP] [or IP] [dev IF] [options...]. */
  const route = (words: string[], loc: Loc, isVirtual: boolean): RouteSpec | undefined => {
    let i = 0;
    let dst: string | undefined;
    let dev: string | undefined;
    let noTrack = false;
    const addrOk = (t: string) => {
      const cut = t.indexOf('/');
      const a = parseSockAddr(cut >= 0 ? t.slice(0, cut) : t);
      const len = cut >= 0 ? Number(t.slice(cut + 1)) : 0;
      return a.ok && (cut < 0 || (/^\d+$/.test(t.slice(cut + 1)) && len <= a.addr.bits));
    };
    while (i < words.length) {
      const o = words[i];
      if (o === 'src') {
        const v = words[++i];
        if (v === undefined || !addrOk(v)) {
          diags.error(loc, `Invalid route source address ${v ?? ''}`);
          return undefined;
        }
      } else if (o === 'via' || o === 'gw') {
        if (o === 'gw') diags.warning(loc, '"gw" for routes is deprecated. Please use "via"');
        const v = words[++i];
        if (v === undefined || !addrOk(v)) {
          diags.error(loc, `Invalid route gateway address ${v ?? ''}`);
          return undefined;
        }
      } else if (o === 'or') {
        diags.warning(loc, '"or" for routes is deprecated. Please use "nexthop"');
        const v = words[++i];
        if (v === undefined || !addrOk(v)) {
          diags.error(loc, `Invalid route nexthop address ${v ?? ''}`);
          return undefined;
        }
      } else if (o === 'nexthop') {
        // nexthop [via IP] [dev IF] [weight N] [onlink]: its parts are read as options
      } else if (ROUTE_TYPES.includes(o) && dst === undefined) {
        // a route type before the destination
      } else if (ROUTE_FLAGS.includes(o)) {
        if (o === 'no_track') noTrack = true;
      } else if (ROUTE_VALUE_OPTIONS.includes(o)) {
        const v = words[++i];
        if (v === undefined) {
          diags.error(loc, `Missing value for route option ${o}`);
          return undefined;
        }
        if (o === 'dev' || o === 'oif') {
          dev = v;
          if (!ifaceExists(v))
            noteMissing(loc, `WARNING - interface ${v} for VROUTE nexthop doesn't exist`);
        }
      } else if (dst === undefined && (o === 'default' || addrOk(o))) {
        dst = o;
      } else {
        diags.error(loc, `Unknown route parameter ${o}`);
        return undefined;
      }
      i++;
    }
    if (dst === undefined) {
      diags.error(loc, 'Route has no destination');
      return undefined;
    }
    if (isVirtual && dev === undefined && !noTrack) {
      diags.warning(
        loc,
        `Warning - cannot track route ${normalizePrefix(dst)} with no interface specified, not tracking`,
      );
    }
    return { dst, words, loc };
  };

  /** A rule line: from/to/table/preference... */
  const rule = (words: string[], loc: Loc): RuleSpec | undefined => {
    let hasPref = false;
    for (let i = 0; i < words.length; i++) {
      const o = words[i];
      if (RULE_FLAGS.includes(o) || RULE_ACTIONS.includes(o)) continue;
      if (!RULE_VALUE_OPTIONS.includes(o)) {
        diags.error(loc, `Unknown rule keyword ${o}`);
        return undefined;
      }
      const v = words[++i];
      if (v === undefined) {
        diags.error(loc, `Missing value for rule option ${o}`);
        return undefined;
      }
      if (o === 'preference' || o === 'prio' || o === 'priority') hasPref = true;
      if (o === 'from' || o === 'to') {
        if (v !== 'all') {
          const cut = v.indexOf('/');
          const a = parseSockAddr(cut >= 0 ? v.slice(0, cut) : v);
          if (!a.ok) {
            diags.error(loc, `VRRP parsed invalid IP ${v}. skipping IP...`);
            diags.error(loc, `Invalid rule ${o} address ${v}`);
            return undefined;
          }
        }
      }
    }
    if (!hasPref) {
      diags.warning(
        loc,
        `Rule has no preference specified - setting to ${rulePreference--}. This is probably not what you want.`,
      );
    }
    return { words, loc };
  };

  /** A `track_*` block of `draft`, kept in its `list` (processes and BFD are only checked). */
  const trackRefs = (
    ctx: KeywordContext,
    draft: TrackedDraft,
    list: TrackList | undefined,
    kind: TrackKind,
  ) => {
    const owner = draft.name;
    ctx.parser.valueBlock(ctx, (words, loc) => {
      const name = words[0];
      let weight: number | undefined;
      let reverse = false;
      if (words.length > 1) {
        if (words[1] !== 'weight' || words.length < 3) {
          diags.error(loc, `(${owner}) unknown track ${kind} option ${words[1]} - ignoring`);
          return;
        }
        const r = readInt(words[2], -254, 254);
        if (!r.ok) {
          diags.error(
            loc,
            `(${owner}) weight ${words[2]} for ${name} must be between [-253..253] inclusive. Ignoring...`,
          );
          return;
        }
        weight = r.value;
        if (Math.abs(weight) === 254) {
          diags.warning(loc, `(${owner}) weight for ${name} cannot be +/-254. Setting to +/-253`);
          weight = weight > 0 ? 253 : -253;
        }
        if (words.length > 3) {
          if (words[3] === 'reverse') reverse = true;
          else if (words[3] !== 'noreverse')
            diags.error(loc, `(${owner}) unknown track ${kind} weight option ${words[3]}`);
        }
      }
      if (kind === 'interface') {
        if (!ifaceExists(name)) {
          noteMissing(loc, `(${owner}) tracked interface ${name} doesn't exist`);
          return;
        }
      } else if (kind === 'script') {
        if (!d.scripts.some((s) => s.name === name)) {
          diags.error(loc, `(${owner}) track script ${name} not found, ignoring...`);
          return;
        }
      } else if (kind === 'file') {
        if (!opts.hasTrackFile(name)) {
          diags.error(loc, `(${owner}) track file ${name} not found, ignoring...`);
          return;
        }
      } else if (kind === 'process') {
        if (!d.trackProcesses.includes(name)) {
          diags.error(loc, `(${owner}) track process ${name} not found, ignoring...`);
          return;
        }
      } else if (!opts.hasBfdInstance(name)) {
        diags.error(loc, `(${owner}) track bfd ${name} not found, ignoring...`);
        return;
      }
      if (list === undefined) return;
      draft[list].push(
        weight === undefined ? { name, reverse, loc } : { name, weight, reverse, loc },
      );
    });
  };

  const instanceKeywords: Keyword[] = [
    viKeyword('use_vmac', (ctx, v) => {
      v.useVmac = true;
      if (ctx.words.length >= 2) {
        const name = ctx.words[1];
        if (name.length >= IFNAMSIZ || name === '.' || name === '..' || /[/:\s]/.test(name)) {
          ctx.error(`VMAC interface name '${name}' too long or invalid characters - ignoring`);
          return;
        }
        const other = d.instances.find((o) => o !== v && o.useVmac === name);
        if (other) {
          ctx.error(
            `(${v.name}) VRRP instance ${other.name} is already using ${name} - ignoring name`,
          );
          return;
        }
        v.useVmac = name;
      }
    }),
    flagKw('use_vmac_addr'),
    flagKw('vmac_xmit_base'),
    viKeyword('use_ipvlan', () => {}),
    viKeyword('unicast_peer', (ctx, v) => {
      ctx.parser.valueBlock(ctx, (words, loc) => {
        const addr = instanceAddress(v, words[0], 'unicast peer address', loc);
        if (addr === undefined) return;
        const peer: { -readonly [K in keyof UnicastPeer]: UnicastPeer[K] } = { addr, loc };
        for (let i = 1; i < words.length; i += 2) {
          const val = readUnsigned(words[i + 1] ?? '', 0, 255);
          if ((words[i] !== 'min_ttl' && words[i] !== 'max_ttl') || !val.ok) {
            diags.error(loc, `(${v.name}) unicast peer ${words[0]} has invalid option ${words[i]}`);
            return;
          }
          if (words[i] === 'min_ttl') peer.minTtl = val.value;
          else peer.maxTtl = val.value;
        }
        v.peers.push(peer);
      });
    }),
    flagKw('check_unicast_src'),
    viKeyword('old_unicast_checksum', (ctx, v) => {
      if (ctx.words.length >= 2 && ctx.words[1] !== 'never') {
        ctx.error(`(${v.name}) Unknown old_unicast_chksum mode ${ctx.words[1]} - ignoring`);
      }
    }),
    viKeyword('native_ipv6', (ctx, v) => {
      if (v.family === AF_INET) {
        ctx.error(`(${v.name}) Cannot specify native_ipv6 with IPv4 addresses`);
        return;
      }
      v.family = AF_INET6;
      v.version = 3;
    }),
    viKeyword('state', (ctx, v) => {
      const s = ctx.word(1);
      if (s === 'MASTER') v.state = 'MASTER';
      else if (s === 'BACKUP') {
        if (v.state === 'MASTER')
          ctx.error(`(${v.name}) state previously set as MASTER - ignoring BACKUP`);
        else v.state = 'BACKUP';
      } else {
        ctx.error(`(${v.name}) unknown state '${s}', defaulting to BACKUP`);
        v.state = 'BACKUP';
      }
    }),
    viKeyword('interface', (ctx, v) => {
      const name = ctx.word(1);
      if (name.length >= IFNAMSIZ) {
        ctx.error(`Interface name '${name}' too long - ignoring`);
        return;
      }
      if (!ifaceExists(name)) {
        noteMissing(
          ctx.loc,
          `WARNING - interface ${name} for vrrp_instance ${v.name} doesn't exist`,
        );
      } else if (host.isLoopback(name)) {
        ctx.error(`(${v.name}) cannot use a loopback interface (${name}) for vrrp - ignoring`);
        return;
      }
      v.interface = name;
    }),
    flagKw('dont_track_primary'),
    ...TRACK_KEYWORDS.map(([name, kind, list]) =>
      viKeyword(name, (ctx, v) => trackRefs(ctx, v, list, kind)),
    ),
    ...['mcast_src_ip', 'unicast_src_ip'].map((name) =>
      viKeyword(name, (ctx, v) => {
        const addr = instanceAddress(v, ctx.word(1), 'src address', ctx.loc);
        if (addr !== undefined) v.unicastSrc = addr;
      }),
    ),
    flagKw('track_src_ip'),
    viKeyword('virtual_router_id', (ctx, v) => {
      const vrid = byteAt(ctx, 1, 'VRID', v);
      if (vrid !== undefined) v.vrid = vrid;
    }),
    viKeyword('unicast_ttl', (ctx, v) => {
      const ttl = byteAt(ctx, 0, 'TTL', v);
      if (ttl !== undefined) v.ttl = ttl;
    }),
    viKeyword('version', (ctx, v) => {
      const r = readInt(ctx.word(1), 2, 3);
      if (!r.ok) {
        ctx.error(`(${v.name}): Version must be either 2 or 3 (${r.reason})`);
        return;
      }
      if (v.family === AF_INET6 && r.value === 2) {
        ctx.error(`(${v.name}): Cannot use VRRP version 2 with IPv6 - using version 3`);
        return;
      }
      v.version = r.value as 2 | 3;
    }),
    viKeyword('priority', (ctx, v) => {
      const r = readUnsigned(ctx.word(1), 1, 255);
      if (!r.ok) {
        ctx.error(
          `(${v.name}) Priority not valid! must be between 1 & 255. Using default 100 (${r.reason})`,
        );
        v.priority = 100;
        return;
      }
      v.priority = r.value;
    }),
    viKeyword('advert_int', (ctx, v) => {
      const w = ctx.word(1);
      const r = readDecimal(w, BigInt(TIMER_HZ / 100), BigInt(255 * TIMER_HZ), 6);
      if (!r.ok || r.value <= 0n) {
        ctx.error(
          `(${v.name}) Advert interval (${w}) not valid! Must be > 0 - ignoring${r.ok ? '' : ` (${r.reason})`}`,
        );
        return;
      }
      v.advertInt = Number(r.value) / TIMER_HZ;
    }),
    viKeyword('virtual_ipaddress', (ctx, v) => {
      ctx.parser.valueBlock(ctx, (words, loc) => {
        const a = ipAddress(
          words,
          loc,
          v.name,
          () => v.family,
          (f) => {
            v.family = f;
          },
        );
        if (a) v.vips.push(a);
      });
    }),
    viKeyword('virtual_ipaddress_excluded', (ctx, v) => {
      ctx.parser.valueBlock(ctx, (words, loc) => {
        const a = ipAddress(words, loc, v.name, () => undefined);
        if (a) v.evips.push(a);
      });
    }),
    flagKw('promote_secondaries'),
    viKeyword('linkbeat_use_polling', (ctx, v) => {
      ctx.warning(
        `(${v.name}) 'linkbeat_use_polling' in vrrp instance deprecated - use linkbeat_interfaces block`,
      );
    }),
    viKeyword('virtual_routes', (ctx, v) => {
      ctx.parser.valueBlock(ctx, (words, loc) => {
        const r = route(words, loc, true);
        if (r) v.routes.push(r);
      });
    }),
    viKeyword('virtual_rules', (ctx, v) => {
      ctx.parser.valueBlock(ctx, (words, loc) => {
        const r = rule(words, loc);
        if (r) v.rules.push(r);
      });
    }),
    flagKw('accept'),
    flagKw('no_accept'),
    boolKw('skip_check_adv_addr', 'skip_check_adv_addr'),
    boolKw('strict_mode', 'strict_mode'),
    flagKw('preempt', (v) => {
      v.nopreempt = false;
    }),
    flagKw('nopreempt', (v) => {
      v.nopreempt = true;
    }),
    viKeyword('preempt_delay', (ctx, v) => {
      const r = readDecimal(ctx.word(1), 0n, BigInt(TIMER_MAX_SEC * TIMER_HZ), 6);
      if (!r.ok) {
        ctx.error(
          `(${v.name}) Preempt_delay not valid! must be between 0-${TIMER_MAX_SEC} (${r.reason})`,
        );
        v.preemptDelay = 0;
        return;
      }
      v.preemptDelay = Number(r.value) / TIMER_HZ;
    }),
    uintKw('debug', 0, 4, (v, w) => `(${v}) Debug value '${w}' not valid; must be between 0-4`),
    notifyKw('notify_backup', 'backup', 'notify_backup'),
    notifyKw('notify_master', 'master', 'notify_master'),
    notifyKw('notify_fault', 'fault', 'notify_fault'),
    notifyKw('notify_stop', 'stop', 'notify_stop'),
    viKeyword('notify_deleted', (ctx, v) => {
      if (v.notifyDeleted) {
        ctx.error(`(${v.name}) notify_deleted already specified - ignoring ${ctx.words[1] ?? ''}`);
        return;
      }
      if (ctx.words.length > 1) v.notify.deleted = scriptFrom(ctx, 'notify');
      v.notifyDeleted = true;
    }),
    notifyKw('notify', 'generic', 'notify'),
    notifyKw('notify_master_rx_lower_pri', 'masterRxLowerPri', 'notify_master_rx_lower_pri'),
    viKeyword('smtp_alert', (ctx, v) => {
      const b = optionalBool(ctx, (w) => `Invalid vrrp_instance smtp_alert parameter ${w}`);
      if (b !== undefined) v.smtpAlert = b;
    }),
    viKeyword('notify_priority_changes', (ctx, v) => {
      optionalBool(
        ctx,
        (w) => `(${v.name}) Invalid value '${w}' for notify_priority_changes specified`,
      );
    }),
    viKeyword('lvs_sync_daemon_interface', (ctx, v) => {
      ctx.warning(`(${v.name}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated.`);
      ctx.warning(
        `      ${' '.repeat(Math.max(0, v.name.length - 2))}Please use global lvs_sync_daemon`,
      );
      ctx.word(1);
    }),
    uintKw(
      'garp_master_delay',
      0,
      MAX_TIMER_SECONDS,
      (v, w) => `(${v}): garp_master_delay '${w}' invalid - ignoring`,
    ),
    uintKw(
      'garp_master_refresh',
      0,
      UINT_MAX,
      (v, w) => `(${v}): Invalid garp_master_refresh '${w}' - ignoring`,
    ),
    repeatKw('garp_master_repeat'),
    repeatKw('garp_master_refresh_repeat'),
    uintKw(
      'garp_lower_prio_delay',
      0,
      MAX_TIMER_SECONDS,
      (v, w) => `(${v}): garp_lower_prio_delay '${w}' invalid - ignoring`,
    ),
    uintKw(
      'garp_lower_prio_repeat',
      0,
      INT_MAX,
      (v, w) => `(${v}): Invalid garp_lower_prio_repeat '${w}'`,
    ),
    uintKw(
      'down_timer_adverts',
      1,
      100,
      (v, w) => `(${v}): Invalid down_timer_adverts [1:100] '${w}'`,
    ),
    ...['garp_extra_if', 'vmac_garp_intvl'].map((name) =>
      viKeyword(name, (ctx, v) => {
        if (name === 'vmac_garp_intvl')
          ctx.warning('Keyword "vmac_garp_intvl" is deprecated - please use "garp_extra_if"');
        let delay: number | undefined;
        for (const w of ctx.words.slice(1)) {
          if (w === 'all') continue;
          const r = readUnsigned(w, 0, 86400);
          if (!r.ok) {
            ctx.error(`(${v.name}): ${name} '${w}' invalid - ignoring`);
            return;
          }
          delay = r.value;
        }
        if (delay === undefined)
          ctx.error(`(${v.name}): ${name} specified without time - ignoring`);
      }),
    ),
    boolKw('lower_prio_no_advert', 'lower_prio_no_advert'),
    boolKw('higher_prio_send_advert', 'higher_prio_send_advert'),
    viKeyword('kernel_rx_buf_size', (ctx, v) => {
      if (ctx.words.length !== 2 || !readUnsigned(ctx.words[1], 0, UINT_MAX).ok) {
        ctx.error(`(${v.name}) invalid kernel_rx_buf_size specified`);
      }
    }),
    flagKw('unicast_fault_no_peer'),
    {
      name: 'authentication',
      sub: [
        {
          name: 'auth_type',
          handler: (ctx) => {
            const v = vi();
            const t = ctx.word(1);
            if (t !== 'PASS' && t !== 'AH') {
              ctx.error(`(${v.name}) unknown authentication type '${t}'`);
              return;
            }
            v.auth = { ...v.auth, type: t };
          },
        },
        {
          name: 'auth_pass',
          handler: (ctx) => {
            const v = vi();
            let p = ctx.word(1);
            if (p.length > 8) {
              ctx.warning('Truncating auth_pass to 8 characters');
              p = p.slice(0, 8);
            }
            v.auth = { ...v.auth, password: p };
          },
        },
      ],
    },
  ];

  /**
   * The name of a new `vrrp_instance NAME {` / `vrrp_sync_group NAME {`: undefined (an error,
   * the block skipped) when it has none or one of `existing` has it already.
   */
  const newBlockName = (
    ctx: KeywordContext,
    unnamed: string,
    kind: string,
    existing: readonly { readonly name: string }[],
  ): string | undefined => {
    if (ctx.words.length !== 2) {
      ctx.error(unnamed);
      ctx.parser.skipBlock(true);
      return undefined;
    }
    const name = ctx.words[1];
    if (existing.some((e) => e.name === name)) {
      ctx.error(`${kind} ${name} already defined`);
      ctx.parser.skipBlock(true);
      return undefined;
    }
    return name;
  };

  const sg = (): SyncGroupDraft => d.syncGroups[d.syncGroups.length - 1];
  const sgNotify = (name: string, slot: keyof SyncGroupDraft['notify']): Keyword => ({
    name,
    handler: (ctx) => {
      const g = sg();
      if (g.notify[slot]) {
        ctx.error(
          `vrrp group ${g.name}: ${name} script already specified - ignoring ${ctx.word(1)}`,
        );
        return;
      }
      g.notify[slot] = scriptFrom(ctx, 'notify');
    },
  });

  const vs = (): VrrpScriptDraft => d.scripts[d.scripts.length - 1];
  let scriptSkipped = false;
  /** `rise` / `fall`: a count of at least 1; an invalid one is 1. */
  const scriptCount = (name: 'rise' | 'fall'): Keyword => ({
    name,
    handler: (ctx) => {
      const s = vs();
      s[name] =
        unsignedAt(
          ctx,
          1,
          1,
          INT_MAX,
          (w) => `(${s.name}): vrrp script ${name} value '${w}' invalid, defaulting to 1`,
        ) ?? 1;
    },
  });
  /** `interval` / `timeout`: whole seconds, 0 read as 1; `invalid` ends the error message. */
  const scriptSeconds = (name: 'interval' | 'timeout', invalid: string): Keyword => ({
    name,
    handler: (ctx) => {
      const s = vs();
      const v = atLeastOneAt(
        ctx,
        1,
        MAX_TIMER_SECONDS,
        (w) => `(${s.name}): vrrp script ${name} '${w}' ${invalid}`,
        `(${s.name}): vrrp script ${name}`,
      );
      if (v !== undefined) s[name] = v;
    },
  });

  const raw = (name: string): Keyword => ({
    name,
    handler: (ctx) => {
      d.other.push({ keyword: name, args: ctx.words.slice(1), loc: ctx.loc });
    },
  });

  return [
    {
      name: 'track_group',
      handler: (ctx) => {
        if (ctx.words.length !== 2) {
          ctx.error('track_group must have a name - skipping');
          ctx.parser.skipBlock(true);
          return;
        }
        d.other.push({ keyword: 'track_group', args: ctx.words.slice(1), loc: ctx.loc });
      },
      sub: [
        {
          name: 'group',
          handler: (ctx) => {
            const list = ctx.parser.readValueBlock(ctx);
            if (list.length === 0) ctx.warning(`Warning - track group has empty group block`);
          },
        },
      ],
    },
    {
      name: 'static_ipaddress',
      handler: (ctx) => {
        ctx.parser.valueBlock(ctx, (words, loc) => {
          const a = ipAddress(words, loc, 'static', () => undefined);
          if (a) d.staticIpaddress.push(a);
        });
      },
    },
    {
      name: 'static_routes',
      handler: (ctx) => {
        ctx.parser.valueBlock(ctx, (words, loc) => {
          const r = route(words, loc, false);
          if (r) d.staticRoutes.push(r);
        });
      },
    },
    {
      name: 'static_rules',
      handler: (ctx) => {
        ctx.parser.valueBlock(ctx, (words, loc) => {
          const r = rule(words, loc);
          if (r) d.staticRules.push(r);
        });
      },
    },
    {
      name: 'vrrp_sync_group',
      handler: (ctx) => {
        const name = newBlockName(
          ctx,
          'vrrp_sync_group must have a name - skipping',
          'vrrp sync group',
          d.syncGroups,
        );
        if (name === undefined) return;
        d.syncGroups.push({
          name,
          trackInterfaces: [],
          trackScripts: [],
          trackFiles: [],
          notify: {},
          loc: ctx.loc,
        });
      },
      sub: [
        {
          name: 'group',
          handler: (ctx) => {
            const g = sg();
            if (g.instances) {
              ctx.error(`Group list already specified for sync group ${g.name}`);
              ctx.parser.skipBlock(true);
              return;
            }
            g.instances = ctx.parser.readValueBlock(ctx).flatMap((l) => l.words);
            if (g.instances.length === 0)
              ctx.warning(`Warning - sync group ${g.name} has empty group block`);
          },
        },
        ...TRACK_KEYWORDS.map(
          ([name, kind, list]): Keyword => ({
            name,
            handler: (ctx) => trackRefs(ctx, sg(), list, kind),
          }),
        ),
        sgNotify('notify_backup', 'backup'),
        sgNotify('notify_master', 'master'),
        sgNotify('notify_fault', 'fault'),
        sgNotify('notify_stop', 'stop'),
        sgNotify('notify', 'generic'),
        {
          name: 'smtp_alert',
          handler: (ctx) => {
            const b = optionalBool(ctx, (w) => `Invalid vrrp_group smtp_alert parameter ${w}`);
            if (b !== undefined) sg().smtpAlert = b;
          },
        },
        {
          name: 'global_tracking',
          handler: (ctx) => {
            ctx.warning(
              `(${sg().name}) global_tracking is deprecated. Use track_interface/script/file on the sync group`,
            );
          },
        },
        { name: 'sync_group_tracking_weight' },
        {
          name: 'notify_priority_changes',
          handler: (ctx) => {
            optionalBool(
              ctx,
              (w) =>
                `(${sg().name}) Invalid value '${w}' for sync group notify_priority_changes specified`,
            );
          },
        },
      ],
    },
    {
      name: 'garp_group',
      handler: (ctx) => {
        d.other.push({ keyword: 'garp_group', args: ctx.words.slice(1), loc: ctx.loc });
        garpHasDelay = false;
      },
      sub: [
        ...['garp_interval', 'gna_interval'].map(
          (name): Keyword => ({
            name,
            handler: (ctx) => {
              const r = readDecimal(ctx.word(1), 1n, BigInt(UINT_MAX), 6);
              if (!r.ok) ctx.error(`Invalid garp_group ${name} ${ctx.words[1]} (${r.reason})`);
              else garpHasDelay = true;
            },
          }),
        ),
        {
          name: 'interface',
          handler: (ctx) => {
            const name = ctx.word(1);
            if (!ifaceExists(name))
              ctx.error(`WARNING - interface ${name} specified for garp_group doesn't exist`);
          },
        },
        {
          name: 'interfaces',
          handler: (ctx) => {
            const list = ctx.parser.readValueBlock(ctx);
            if (list.length === 0) ctx.warning('Warning - empty garp_group interfaces block');
            for (const l of list) {
              for (const name of l.words) {
                if (!ifaceExists(name))
                  diags.error(
                    l.loc,
                    `WARNING - interface ${name} specified for garp_group doesn't exist`,
                  );
              }
            }
          },
        },
      ],
      onClose: (loc) => {
        if (!garpHasDelay) diags.error(loc, 'garp group does not have any delay set - removing');
      },
    },
    {
      name: 'linkbeat_interfaces',
      handler: (ctx) => {
        ctx.parser.valueBlock(ctx, (words, loc) => {
          if (!ifaceExists(words[0])) {
            noteMissing(loc, `unknown interface ${words[0]} specified for linkbeat interface`);
            return;
          }
          if (
            words.length > 1 &&
            (!['MII', 'ETHTOOL', 'IOCTL'].includes(words[1]) || words.length > 2)
          ) {
            diags.error(loc, `extra characters ${words[1]} in linkbeat interface`);
          }
        });
      },
    },
    {
      name: 'vrrp_instance',
      handler: (ctx) => {
        const name = newBlockName(
          ctx,
          'vrrp_instance must have a name',
          'vrrp instance',
          d.instances,
        );
        if (name === undefined) return;
        d.instances.push({
          name,
          priority: 100,
          advertInt: 1,
          nopreempt: false,
          preemptDelay: 0,
          vips: [],
          evips: [],
          routes: [],
          rules: [],
          peers: [],
          trackInterfaces: [],
          trackScripts: [],
          trackFiles: [],
          notify: {},
          notifyDeleted: false,
          keywords: [],
          loc: ctx.loc,
        });
      },
      sub: instanceKeywords,
      onClose: (loc) => {
        const v = vi();
        if (v.peers.length === 0 && v.ttl !== undefined) {
          diags.error(loc, `(${v.name}): Cannot use unicast_ttl without unicast peers - resetting`);
          v.ttl = undefined;
        }
      },
    },
    {
      name: 'vrrp_script',
      handler: (ctx) => {
        const name = ctx.word(1);
        scriptSkipped = false;
        d.scripts.push({
          name,
          interval: 1,
          weight: 0,
          weightReverse: false,
          rise: 1,
          fall: 1,
          initFail: false,
          loc: ctx.loc,
        });
      },
      sub: [
        {
          name: 'script',
          handler: (ctx) => {
            const s = scriptFromRest(ctx, 'script');
            if (s) vs().script = s;
          },
        },
        scriptSeconds('interval', `must be between 1 and ${MAX_TIMER_SECONDS} - ignoring`),
        scriptSeconds('timeout', 'invalid - ignoring'),
        {
          name: 'weight',
          handler: (ctx) => {
            const s = vs();
            const r = readInt(ctx.word(1), -253, 253);
            if (!r.ok)
              ctx.error(
                `vrrp_script ${s.name} weight ${ctx.words[1]} must be in [-253, 253] (${r.reason})`,
              );
            else s.weight = r.value;
            if (ctx.words.length >= 3) {
              if (ctx.words[2] === 'reverse') s.weightReverse = true;
              else ctx.error(`vrrp_script ${s.name} unknown weight option ${ctx.words[2]}`);
            }
          },
        },
        scriptCount('rise'),
        scriptCount('fall'),
        {
          name: 'user',
          handler: (ctx) => {
            const s = vs();
            s.user = ctx.word(1);
            if (ctx.words[2] !== undefined) s.group = ctx.words[2];
            if (!host.userExists(s.user) || (s.group !== undefined && !host.groupExists(s.group))) {
              ctx.error(`Unable to set uid/gid for script ${s.script?.args.join(' ') ?? ''}`);
              scriptSkipped = true;
            }
          },
        },
        {
          name: 'init_fail',
          handler: () => {
            vs().initFail = true;
          },
        },
      ],
      onClose: (loc) => {
        const s = vs();
        if (!s.script || s.script.args.length === 0 || s.script.args[0] === '') {
          diags.error(loc, `No script set for vrrp_script ${s.name} - removing`);
          d.scripts.pop();
          return;
        }
        if (scriptSkipped) d.scripts.pop();
      },
    },
    {
      name: 'vrrp_track_process',
      handler: (ctx) => {
        d.trackProcesses.push(ctx.word(1));
        d.other.push({ keyword: 'vrrp_track_process', args: ctx.words.slice(1), loc: ctx.loc });
      },
      sub: [
        'process',
        'param_match',
        'weight',
        'quorum',
        'quorum_max',
        'delay',
        'terminate_delay',
        'fork_delay',
        'full_command',
      ].map(raw),
    },
    {
      name: 'interface_up_down_delays',
      handler: (ctx) => {
        ctx.parser.valueBlock(ctx, (words, loc) => {
          if (!ifaceExists(words[0])) {
            noteMissing(loc, `unknown interface ${words[0]} specified for up/down delay`);
            return;
          }
          for (const w of words.slice(1, 3)) {
            if (!readDecimal(w, 0n, BigInt(255 * TIMER_HZ), 6).ok) {
              diags.error(loc, `Invalid up/down delay ${w} for ${words[0]}`);
            }
          }
        });
      },
    },
  ];
}

/** keepalived prints the route destination as a prefix (a.b.c.d/32 for a host). */
function normalizePrefix(dst: string): string {
  if (dst === 'default') return '0.0.0.0/0';
  if (dst.includes('/')) return dst;
  return dst.includes(':') ? `${dst}/128` : `${dst}/32`;
}
