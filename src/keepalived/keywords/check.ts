/**
 * The LVS blocks: `SSL`, `virtual_server_group` and `virtual_server` with its real_server,
 * sorry_server and checker keywords (keepalived/check/check_parser.c and the alloc_*
 * functions of check_data.c, keepalived 2.2). Values are kept as drafts, as keepalived keeps
 * them while reading; defaults and inheritance are applied by the check step.
 */
import { type AddressFamily, AF_INET, AF_INET6, InetAddr } from '../../net/addr.js';
import type { DiagnosticList, Loc } from '../diagnostics.js';
import { INT_MAX, readUnsigned, UINT_MAX } from '../grammar/numbers.js';
import type { Keyword, KeywordContext } from '../grammar/parser.js';
import type {
  Granularity,
  LvsMethod,
  LvsProtocol,
  ScriptSpec,
  TunnelSpec,
  VirtualServerKey,
  VsgEntry,
} from '../model.js';
import { type CheckerDraft, checkerKeywords } from './checkers.js';
import {
  optionalBool,
  parseSockAddr,
  portOrUndefined,
  scriptFrom,
  timerAt,
  unsignedAt,
} from './values.js';

/** IPVS limits as keepalived uses them. */
export const IPVS_WEIGHT_LIMIT = INT_MAX;
export const IPVS_FWMARK_MAX = UINT_MAX;
/** 31 days: keepalived's LVS_MAX_TIMEOUT. */
export const LVS_MAX_TIMEOUT = 86400 * 31;
/** ipvsadm's default persistence timeout (IPVS_SVC_PERSISTENT_TIMEOUT, 6 minutes). */
export const IPVS_SVC_PERSISTENT_TIMEOUT = 360;
/** keepalived's KEEPALIVED_DEFAULT_DELAY. */
export const DEFAULT_DELAY_LOOP = 60;

/** The schedulers keepalived 2.2.7 accepts (lb_algo / lvs_sched). */
export const LVS_SCHEDULERS = [
  'rr',
  'wrr',
  'lc',
  'wlc',
  'lblc',
  'sh',
  'mh',
  'dh',
  'fo',
  'ovf',
  'lblcr',
  'sed',
  'nq',
  'twos',
];

export interface VsgDraft {
  readonly name: string;
  readonly entries: VsgEntry[];
  haveV4: boolean;
  haveV6: boolean;
  fwmarkNoFamily: boolean;
  readonly loc: Loc;
}

export interface ServerDraft {
  readonly addr: InetAddr;
  /** As written; 0 when none. */
  port: number;
  method?: LvsMethod;
  tunnel: TunnelSpec;
  readonly loc: Loc;
}

export interface RealServerDraft extends ServerDraft {
  readonly writtenPort: number;
  weight?: number;
  uThreshold: number;
  lThreshold: number;
  inhibit?: boolean;
  alpha?: boolean;
  notifyUp?: ScriptSpec;
  notifyDown?: ScriptSpec;
  retry?: number;
  delayBeforeRetry?: number;
  warmup?: number;
  connectTimeout?: number;
  delayLoop?: number;
  smtpAlert?: boolean;
  virtualhost?: string;
  readonly checkers: CheckerDraft[];
}

export interface SorryDraft extends ServerDraft {
  inhibit: boolean;
}

export interface VirtualServerDraft {
  readonly key: VirtualServerKey;
  af?: AddressFamily;
  protocol?: LvsProtocol;
  scheduler: string;
  flags: {
    hashed: boolean;
    onePacket: boolean;
    flag1: boolean;
    flag2: boolean;
    flag3: boolean;
    shPort: boolean;
    shFallback: boolean;
    mhPort: boolean;
    mhFallback: boolean;
  };
  method?: LvsMethod;
  tunnel: TunnelSpec;
  persistenceTimeout: number;
  granularity?: Granularity;
  persistenceEngine?: string;
  delayLoop: number;
  connectTimeout: number;
  retry?: number;
  delayBeforeRetry?: number;
  warmup?: number;
  inhibit: boolean;
  alpha: boolean;
  omega: boolean;
  quorum: number;
  hysteresis: number;
  quorumUp?: ScriptSpec;
  quorumDown?: ScriptSpec;
  haSuspend: boolean;
  smtpAlert?: boolean;
  virtualhost?: string;
  weight: number;
  sorry?: SorryDraft;
  readonly realServers: RealServerDraft[];
  readonly loc: Loc;
}

export interface SslDraft {
  password?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  readonly loc: Loc;
}

/** What the checker process reads. */
export interface CheckDrafts {
  ssl?: SslDraft;
  readonly groups: VsgDraft[];
  readonly servers: VirtualServerDraft[];
}

const DEFAULT_TUNNEL: TunnelSpec = { type: 'ipip', port: 0, checksum: 'nocsum' };

export interface CheckKeywordsOptions {
  hasTrackFile(name: string): boolean;
  hasBfdInstance(name: string): boolean;
}

/** The LVS root keywords, filling `drafts`. */
export function checkKeywords(
  drafts: CheckDrafts,
  diags: DiagnosticList,
  opts: CheckKeywordsOptions,
): Keyword[] {
  const lastVs = (): VirtualServerDraft => drafts.servers[drafts.servers.length - 1];
  const lastRs = (): RealServerDraft | undefined => {
    const vs = lastVs();
    return vs?.realServers[vs.realServers.length - 1];
  };

  const checkers = checkerKeywords(
    {
      realServer: () => lastRs(),
      hasTrackFile: opts.hasTrackFile,
      hasBfdInstance: opts.hasBfdInstance,
    },
    diags,
  );

  const rsKeyword = (name: string, fn: (ctx: KeywordContext, rs: RealServerDraft) => void) => ({
    name,
    handler: (ctx: KeywordContext) => {
      const rs = lastRs();
      if (rs) fn(ctx, rs);
    },
  });
  const vsKeyword = (name: string, fn: (ctx: KeywordContext, vs: VirtualServerDraft) => void) => ({
    name,
    handler: (ctx: KeywordContext) => fn(ctx, lastVs()),
  });

  const realServerKeywords: Keyword[] = [
    rsKeyword('weight', (ctx, rs) => {
      const w = unsignedAt(
        ctx,
        1,
        0,
        IPVS_WEIGHT_LIMIT,
        (x) => `Real server weight ${x} is outside range 0-${IPVS_WEIGHT_LIMIT}`,
      );
      if (w !== undefined) rs.weight = w;
    }),
    rsKeyword('lvs_method', (ctx, rs) => forwarding(ctx, rs, 'real')),
    rsKeyword('uthreshold', (ctx, rs) => {
      const v = unsignedAt(
        ctx,
        1,
        0,
        UINT_MAX,
        (x) => `Invalid real_server uthreshold '${x}' - ignoring`,
      );
      if (v !== undefined) rs.uThreshold = v;
    }),
    rsKeyword('lthreshold', (ctx, rs) => {
      const v = unsignedAt(
        ctx,
        1,
        0,
        UINT_MAX,
        (x) => `Invalid real_server lthreshold '${x}' - ignoring`,
      );
      if (v !== undefined) rs.lThreshold = v;
    }),
    rsKeyword('inhibit_on_failure', (ctx, rs) => {
      const b = optionalBool(ctx, (x) => `Invalid inhibit_on_failure parameter ${x}`);
      if (b !== undefined) rs.inhibit = b;
    }),
    rsKeyword('notify_up', (ctx, rs) => {
      if (rs.notifyUp) {
        ctx.error(
          `(${vsName(lastVs())}) notify_up script already specified - ignoring ${ctx.word(1)}`,
        );
        return;
      }
      rs.notifyUp = scriptFrom(ctx, 'notify');
    }),
    rsKeyword('notify_down', (ctx, rs) => {
      if (rs.notifyDown) {
        ctx.error(
          `(${vsName(lastVs())}) notify_down script already specified - ignoring ${ctx.word(1)}`,
        );
        return;
      }
      rs.notifyDown = scriptFrom(ctx, 'notify');
    }),
    rsKeyword('alpha', (ctx, rs) => {
      const b = optionalBool(ctx, (x) => `Invalid alpha parameter ${x}`);
      if (b !== undefined) rs.alpha = b;
    }),
    rsKeyword('retry', (ctx, rs) => {
      const v = unsignedAt(ctx, 1, 1, UINT_MAX, (x) => `retry value invalid - ${x}`);
      if (v !== undefined) rs.retry = v;
    }),
    rsKeyword('delay_before_retry', (ctx, rs) => {
      const t = timerAt(
        ctx,
        1,
        0,
        0,
        (x) => `real server delay_before_retry '${x}' invalid - ignoring`,
      );
      if (t !== undefined) rs.delayBeforeRetry = t;
    }),
    rsKeyword('warmup', (ctx, rs) => {
      const t = timerAt(ctx, 1, 0, 0, (x) => `real server warmup '${x}' invalid - ignoring`);
      if (t !== undefined) rs.warmup = t;
    }),
    rsKeyword('connect_timeout', (ctx, rs) => {
      const t = timerAt(
        ctx,
        1,
        1,
        UINT_MAX,
        (x) => `real server connect_timeout ${x} invalid - ignoring`,
      );
      if (t !== undefined) rs.connectTimeout = t;
    }),
    rsKeyword('delay_loop', (ctx, rs) => {
      const t = timerAt(ctx, 1, 1, 0, (x) => `real server delay_loop '${x}' invalid - ignoring`);
      if (t !== undefined) rs.delayLoop = t;
    }),
    rsKeyword('smtp_alert', (ctx, rs) => {
      const b = optionalBool(ctx, (x) => `Invalid real_server smtp_alert parameter ${x}`);
      if (b !== undefined) rs.smtpAlert = b;
    }),
    rsKeyword('virtualhost', (ctx, rs) => {
      if (ctx.words.length < 2) {
        ctx.error('real server virtualhost missing');
        return;
      }
      rs.virtualhost = ctx.words[1];
    }),
    rsKeyword('snmp_name', (ctx) => {
      if (ctx.words.length !== 2) ctx.error('real server snmp_name missing or extra parameters');
    }),
    ...checkers.keywords,
  ];

  const virtualServerKeywords: Keyword[] = [
    vsKeyword('ip_family', (ctx, vs) => {
      const f = ctx.word(1);
      let af: AddressFamily;
      if (f === 'inet') af = AF_INET;
      else if (f === 'inet6') af = AF_INET6;
      else {
        ctx.error(`unknown address family ${f}`);
        return;
      }
      if (vs.af !== undefined && vs.af !== af) {
        ctx.error(`Virtual server specified family ${f} conflicts with server family`);
        return;
      }
      vs.af = af;
    }),
    vsKeyword('retry', (ctx, vs) => {
      const v = unsignedAt(ctx, 1, 1, UINT_MAX, (x) => `retry value invalid - ${x}`);
      if (v !== undefined) vs.retry = v;
    }),
    vsKeyword('delay_before_retry', (ctx, vs) => {
      const t = timerAt(
        ctx,
        1,
        0,
        0,
        (x) => `virtual server delay before retry '${x}' invalid - ignoring`,
      );
      if (t !== undefined) vs.delayBeforeRetry = t;
    }),
    vsKeyword('warmup', (ctx, vs) => {
      const t = timerAt(ctx, 1, 0, 0, (x) => `virtual server warmup '${x}' invalid - ignoring`);
      if (t !== undefined) vs.warmup = t;
    }),
    vsKeyword('connect_timeout', (ctx, vs) => {
      const t = timerAt(
        ctx,
        1,
        1,
        UINT_MAX,
        (x) => `virtual server connect_timeout ${x} invalid - ignoring`,
      );
      if (t !== undefined) vs.connectTimeout = t;
    }),
    vsKeyword('delay_loop', (ctx, vs) => {
      const t = timerAt(ctx, 1, 1, 0, (x) => `virtual server delay loop '${x}' invalid - ignoring`);
      if (t !== undefined) vs.delayLoop = t;
    }),
    vsKeyword('inhibit_on_failure', (_ctx, vs) => {
      vs.inhibit = true;
    }),
    vsKeyword('lb_algo', scheduler),
    vsKeyword('lvs_sched', scheduler),
    ...[
      'hashed',
      'ops',
      'flag-1',
      'flag-2',
      'flag-3',
      'sh-port',
      'sh-fallback',
      'mh-port',
      'mh-fallback',
    ].map((name) => vsKeyword(name, schedulerFlag)),
    vsKeyword('lb_kind', (ctx, vs) => forwarding(ctx, vs, 'virtual')),
    vsKeyword('lvs_method', (ctx, vs) => forwarding(ctx, vs, 'virtual')),
    vsKeyword('persistence_engine', (ctx, vs) => {
      const e = ctx.word(1);
      if (e.length > 15) ctx.error(`persistence_name too long, truncating - ${e}`);
      vs.persistenceEngine = e.slice(0, 15);
    }),
    vsKeyword('persistence_timeout', (ctx, vs) => {
      if (ctx.words.length < 2) {
        vs.persistenceTimeout = IPVS_SVC_PERSISTENT_TIMEOUT;
        return;
      }
      const r = readUnsigned(ctx.words[1], 1, LVS_MAX_TIMEOUT);
      if (!r.ok) {
        ctx.error(`persistence_timeout invalid (${r.reason})`);
        return;
      }
      vs.persistenceTimeout = r.value;
    }),
    vsKeyword('persistence_granularity', granularity),
    vsKeyword('protocol', (ctx, vs) => {
      const p = ctx.word(1).toUpperCase();
      if (p === 'TCP' || p === 'UDP' || p === 'SCTP') vs.protocol = p;
      else ctx.error(`Unknown protocol ${ctx.words[1]} - ignoring`);
    }),
    vsKeyword('ha_suspend', (_ctx, vs) => {
      vs.haSuspend = true;
    }),
    vsKeyword('smtp_alert', (ctx, vs) => {
      const b = optionalBool(ctx, (x) => `Invalid virtual_server smtp_alert parameter ${x}`);
      if (b !== undefined) vs.smtpAlert = b;
    }),
    vsKeyword('virtualhost', (ctx, vs) => {
      if (ctx.words.length < 2) {
        ctx.error('virtual server virtualhost missing');
        return;
      }
      vs.virtualhost = ctx.words[1];
    }),
    vsKeyword('snmp_name', (ctx) => {
      if (ctx.words.length !== 2) ctx.error('virtual server snmp_name missing or extra parameters');
    }),
    vsKeyword('alpha', (_ctx, vs) => {
      vs.alpha = true;
    }),
    vsKeyword('omega', (_ctx, vs) => {
      vs.omega = true;
    }),
    vsKeyword('quorum_up', (ctx, vs) => {
      if (vs.quorumUp) {
        ctx.error(`(${vsName(vs)}) quorum_up script already specified - ignoring ${ctx.word(1)}`);
        return;
      }
      vs.quorumUp = scriptFrom(ctx, 'quorum');
    }),
    vsKeyword('quorum_down', (ctx, vs) => {
      if (vs.quorumDown) {
        ctx.error(`(${vsName(vs)}) quorum_down script already specified - ignoring ${ctx.word(1)}`);
        return;
      }
      vs.quorumDown = scriptFrom(ctx, 'quorum');
    }),
    vsKeyword('quorum', (ctx, vs) => {
      const r = readUnsigned(ctx.word(1), 1, UINT_MAX);
      if (!r.ok) {
        ctx.error(
          `Quorum ${ctx.words[1]} must be in [1, ${UINT_MAX}]. Setting to 1. (${r.reason})`,
        );
        vs.quorum = 1;
        return;
      }
      vs.quorum = r.value;
    }),
    vsKeyword('hysteresis', (ctx, vs) => {
      const v = unsignedAt(
        ctx,
        1,
        0,
        UINT_MAX,
        (x) => `Hysteresis ${x} must be in [0, ${UINT_MAX}] - ignoring`,
      );
      if (v !== undefined) vs.hysteresis = v;
    }),
    vsKeyword('weight', (ctx, vs) => {
      const v = unsignedAt(
        ctx,
        1,
        1,
        IPVS_WEIGHT_LIMIT,
        (x) => `Virtual server weight ${x} is outside range 1-${IPVS_WEIGHT_LIMIT}`,
      );
      if (v !== undefined) vs.weight = v;
    }),
    vsKeyword('sorry_server', (ctx, vs) => {
      const port = portOrUndefined(ctx.words[2]);
      const r = parseSockAddr(ctx.word(1), port);
      if (!r.ok) {
        ctx.error(`Invalid sorry server IP address ${ctx.words[1]} - skipping (${r.reason})`);
        return;
      }
      vs.sorry = {
        addr: r.addr,
        port: r.port,
        method: vs.method,
        tunnel: vs.tunnel,
        inhibit: false,
        loc: ctx.loc,
      };
    }),
    vsKeyword('sorry_server_inhibit', (ctx, vs) => {
      if (vs.sorry) vs.sorry.inhibit = true;
      else ctx.error('Ignoring sorry_server inhibit used before or without sorry_server');
    }),
    vsKeyword('sorry_server_lvs_method', (ctx, vs) => {
      if (vs.sorry) forwarding(ctx, vs.sorry, 'sorry');
      else ctx.error('sorry_server forwarding used without sorry_server');
    }),
    {
      name: 'real_server',
      handler: (ctx) => {
        const vs = lastVs();
        checkers.resetRealServer();
        const ip = ctx.word(1);
        const portText = ctx.words[2];
        const r = parseSockAddr(ip, portOrUndefined(portText));
        if (!r.ok) {
          ctx.error(
            `Invalid real server ip address/port ${ip}/${portText ?? '(null)'} - skipping (${r.reason})`,
          );
          ctx.parser.skipBlock(true);
          return;
        }
        vs.realServers.push({
          addr: r.addr,
          port: r.port,
          writtenPort: r.port,
          method: vs.method,
          tunnel: vs.tunnel,
          uThreshold: 0,
          lThreshold: 0,
          checkers: [],
          loc: ctx.loc,
        });
      },
      sub: realServerKeywords,
      onClose: (loc) => {
        const vs = lastVs();
        const rs = lastRs();
        if (!vs || !rs || rs.method === 'TUN') return;
        if (vs.af === undefined) vs.af = rs.addr.af;
        else if (vs.af !== rs.addr.af) {
          diags.error(
            loc,
            `Address family of virtual server and real server ${rs.addr} don't match - skipping real server.`,
          );
          vs.realServers.pop();
        }
      },
    },
  ];

  function scheduler(ctx: KeywordContext, vs: VirtualServerDraft): void {
    const s = ctx.word(1);
    if (!LVS_SCHEDULERS.includes(s)) {
      ctx.error(`Invalid lvs_scheduler '${s}' - ignoring`);
      return;
    }
    vs.scheduler = s;
  }

  function schedulerFlag(ctx: KeywordContext, vs: VirtualServerDraft): void {
    const f = ctx.words[0];
    if (f === 'ops') vs.flags.onePacket = true;
    else if (f === 'flag-1') vs.flags.flag1 = true;
    else if (f === 'flag-2') vs.flags.flag2 = true;
    else if (f === 'flag-3') vs.flags.flag3 = true;
    else if (vs.scheduler === 'sh') {
      if (f === 'sh-port') vs.flags.shPort = true;
      if (f === 'sh-fallback') vs.flags.shFallback = true;
    } else if (vs.scheduler === 'mh') {
      if (f === 'mh-port') vs.flags.mhPort = true;
      if (f === 'mh-fallback') vs.flags.mhFallback = true;
    } else {
      ctx.error(`${f} only applies to sh scheduler - ignoring`);
    }
  }

  function granularity(ctx: KeywordContext, vs: VirtualServerDraft): void {
    const g = ctx.word(1);
    const af = vs.af ?? (g.includes('.') ? AF_INET : AF_INET6);
    if (af === AF_INET6) {
      const r = readUnsigned(g, 1, 128);
      if (!r.ok) {
        ctx.error(`Invalid IPv6 persistence_granularity specified - ${g} (${r.reason})`);
        return;
      }
      vs.granularity = { kind: 'v6', prefixLen: r.value };
    } else {
      const r = parseSockAddr(g);
      if (!r.ok || r.addr.af !== AF_INET || /[-/]/.test(g)) {
        ctx.error(`Invalid IPv4 persistence_granularity specified - ${g}`);
        return;
      }
      vs.granularity = { kind: 'v4', mask: r.addr };
    }
    if (vs.af === undefined) vs.af = af;
    if (!vs.persistenceTimeout) vs.persistenceTimeout = IPVS_SVC_PERSISTENT_TIMEOUT;
  }

  function forwarding(
    ctx: KeywordContext,
    target: { method?: LvsMethod; tunnel: TunnelSpec },
    kind: 'real' | 'virtual' | 'sorry',
  ): void {
    const m = ctx.word(1);
    if (m !== 'NAT' && m !== 'DR' && m !== 'TUN') {
      ctx.error(`PARSER : unknown [${m}] routing method for ${kind} server.`);
      return;
    }
    target.method = m;
    let type: TunnelSpec['type'] = 'ipip';
    let port = 0;
    let checksum: TunnelSpec['checksum'] = 'nocsum';
    const w = ctx.words;
    for (let i = 2; i < w.length; i++) {
      if (w[i] === 'type') {
        if (i + 1 === w.length) {
          ctx.error(`Missing tunnel type for ${kind} server.`);
          return;
        }
        const t = w[++i];
        if (t !== 'ipip' && t !== 'gue' && t !== 'gre') {
          ctx.error(`Unknown tunnel type ${t} for ${kind} server.`);
          return;
        }
        type = t;
      } else if (w[i] === 'port') {
        if (i + 1 === w.length) {
          ctx.error(`Missing port for ${kind} server gue tunnel.`);
          return;
        }
        const r = readUnsigned(w[++i], 1, 65535);
        if (!r.ok) {
          ctx.error(`Invalid gue tunnel port ${w[i]} for ${kind} server. (${r.reason})`);
          return;
        }
        port = r.value;
      } else if (w[i] === 'nocsum' || w[i] === 'csum' || w[i] === 'remcsum') {
        checksum = w[i] as TunnelSpec['checksum'];
      } else {
        ctx.error(`Invalid tunnel option ${w[i]} for ${kind} server.`);
        return;
      }
    }
    if ((type === 'gue') !== (port !== 0)) {
      ctx.error('gue tunnels require port, otherwise cannot have port.');
      return;
    }
    if (type === 'ipip' && checksum !== 'nocsum') {
      ctx.error('ipip tunnels do not support checksum option.');
      return;
    }
    if (type === 'gre' && checksum === 'remcsum') {
      ctx.error('gre tunnels do not support remote checksum option.');
      return;
    }
    target.tunnel = { type, port, checksum };
  }

  return [
    {
      name: 'SSL',
      handler: (ctx) => {
        if (drafts.ssl) ctx.error('SSL context already specified - replacing');
        drafts.ssl = { loc: ctx.loc };
      },
      sub: (
        [
          ['password', 'password', 'password'],
          ['ca', 'caFile', 'cafile'],
          ['certificate', 'certFile', 'certfile'],
          ['key', 'keyFile', 'keyfile'],
        ] as const
      ).map(([name, field, label]) => ({
        name,
        handler: (ctx: KeywordContext) => {
          const ssl = drafts.ssl;
          if (!ssl) return;
          if (ctx.words.length < 2) {
            ctx.error(`SSL ${label} missing`);
            return;
          }
          if (ssl[field] !== undefined) ctx.error(`SSL ${label} already specified - replacing`);
          ssl[field] = ctx.words[1];
        },
      })),
    },
    {
      name: 'virtual_server_group',
      handler: (ctx) => {
        const name = ctx.word(1);
        const g: VsgDraft = {
          name,
          entries: [],
          haveV4: false,
          haveV6: false,
          fwmarkNoFamily: false,
          loc: ctx.loc,
        };
        // alloc_value_block() sees the words after the group name.
        const blockCtx = ctx.parser.lineContext([ctx.words[0], ...ctx.words.slice(2)], ctx.loc);
        ctx.parser.valueBlock(blockCtx, (words, loc) => groupEntry(g, words, loc, diags));
        const here = ctx.parser.reader.loc;
        if (g.entries.length === 0) {
          diags.error(here, `virtual server group ${name} has no entries - removing`);
          return;
        }
        if (g.haveV4 && g.haveV6 && g.fwmarkNoFamily) {
          diags.error(
            here,
            `virtual server group ${name} cannot have IPv4, IPv6 and fwmark without family - removing`,
          );
          return;
        }
        drafts.groups.push(g);
      },
    },
    {
      name: 'virtual_server',
      handler: (ctx) => {
        const p1 = ctx.word(1);
        let key: VirtualServerKey;
        let af: AddressFamily | undefined;
        if (p1 === 'group') {
          key = { kind: 'group', name: ctx.word(2) };
        } else if (p1 === 'fwmark') {
          const r = readUnsigned(ctx.word(2), 0, IPVS_FWMARK_MAX);
          if (!r.ok) {
            ctx.error(
              `virtual server fwmark '${ctx.words[2]}' must be in [0, ${IPVS_FWMARK_MAX}] - ignoring (${r.reason})`,
            );
            ctx.parser.skipBlock(true);
            return;
          }
          key = { kind: 'fwmark', fwmark: r.value };
        } else {
          const port = portOrUndefined(ctx.words[2]);
          const r = parseSockAddr(p1, port);
          if (!r.ok) {
            const slash = port !== undefined;
            ctx.error(
              `Invalid virtual server IP address${slash ? '/port' : ''} ${p1}${slash ? `/${port}` : ''} - skipping (${r.reason})`,
            );
            ctx.parser.skipBlock(true);
            return;
          }
          key = { kind: 'address', addr: r.addr, port: r.port };
          af = r.addr.af;
        }
        drafts.servers.push({
          key,
          af,
          scheduler: '',
          flags: {
            hashed: false,
            onePacket: false,
            flag1: false,
            flag2: false,
            flag3: false,
            shPort: false,
            shFallback: false,
            mhPort: false,
            mhFallback: false,
          },
          tunnel: DEFAULT_TUNNEL,
          persistenceTimeout: 0,
          delayLoop: DEFAULT_DELAY_LOOP,
          connectTimeout: 5,
          inhibit: false,
          alpha: false,
          omega: false,
          quorum: 1,
          hysteresis: 0,
          haSuspend: false,
          weight: 1,
          realServers: [],
          loc: ctx.loc,
        });
      },
      sub: virtualServerKeywords,
      onClose: (loc) => {
        const vs = lastVs();
        if (vs.sorry && vs.sorry.method !== 'TUN') {
          if (vs.af === undefined) vs.af = vs.sorry.addr.af;
          else if (vs.af !== vs.sorry.addr.af) {
            diags.error(
              loc,
              `Address family of virtual server and sorry server ${vs.sorry.addr} don't match - skipping sorry server.`,
            );
            vs.sorry = undefined;
          }
        }
        if (vs.af === undefined && vs.key.kind !== 'group') {
          // A fwmark service whose servers are all tunnelled: one family if they agree, else IPv4.
          let af = vs.sorry?.addr.af;
          let mixed = false;
          for (const rs of vs.realServers) {
            if (af === undefined) af = rs.addr.af;
            else if (af !== rs.addr.af) mixed = true;
          }
          vs.af = mixed || af === undefined ? AF_INET : af;
        }
      },
    },
  ];
}

/** A human name for a virtual server, as keepalived's vsgname-or-address in messages. */
export function vsName(vs: VirtualServerDraft): string {
  if (vs.key.kind === 'group') return vs.key.name;
  if (vs.key.kind === 'fwmark') return `FWM ${vs.key.fwmark}`;
  return vs.key.addr.toString();
}

/** alloc_vsg_entry(): `IP [PORT]`, `IP-LASTOCTET [PORT]`, `IP/PREFIX [PORT]`, `fwmark N [inet|inet6]`. */
function groupEntry(g: VsgDraft, words: string[], loc: Loc, diags: DiagnosticList): void {
  const first = words[0];
  if (first === 'fwmark') {
    const text = words[1] ?? '';
    const r = readUnsigned(text, 0, UINT_MAX);
    if (words[1] === undefined || !r.ok) {
      diags.error(loc, `(${g.name}): fwmark '${text}' must be in [0, ${UINT_MAX}] - ignoring`);
      return;
    }
    let family: AddressFamily | undefined;
    if (words.length > 2) {
      if (words[2] === 'inet') {
        family = AF_INET;
        g.haveV4 = true;
      } else if (words[2] === 'inet6') {
        family = AF_INET6;
        g.haveV6 = true;
      } else {
        diags.error(loc, `(${g.name}): fwmark '${r.value}' family ${words[2]} unknown - ignoring`);
        return;
      }
    } else {
      g.fwmarkNoFamily = true;
    }
    g.entries.push(
      family === undefined
        ? { kind: 'fwmark', fwmark: r.value, loc }
        : { kind: 'fwmark', fwmark: r.value, family, loc },
    );
    return;
  }
  const port = portOrUndefined(words[1]);
  const start = parseSockAddr(first, port);
  if (!start.ok) {
    const slash = port !== undefined;
    diags.error(
      loc,
      `Invalid virtual server group IP address ${first} ${slash ? '/port' : ''}${slash ? '/' : ''}${port ?? ''} - skipping (${start.reason})`,
    );
    return;
  }
  const addr = start.addr;
  const bits = addr.bits;
  let last = addr;
  const slash = first.indexOf('/');
  if (slash >= 0) {
    const maskText = first.slice(slash + 1);
    const mask = /^\d+$/.test(maskText) ? Number(maskText) : Number.NaN;
    if (!(mask >= 1 && mask <= bits)) {
      diags.error(loc, `Invalid netmask - ${first} - skipping`);
      return;
    }
    if (!addr.masked(mask).equals(addr)) {
      diags.error(loc, `Address mask bits not empty - ${first} - skipping`);
      return;
    }
    last = hostBitsSet(addr, mask);
  } else {
    const dash = first.indexOf('-');
    if (dash >= 0) {
      const endText = first.slice(dash + 1);
      const fullEnd = addr.isV4 ? endText.includes('.') : endText.includes(':');
      if (fullEnd) {
        const end = parseSockAddr(endText, port);
        if (!end.ok) {
          diags.error(loc, `Invalid range end ${first} - skipping`);
          return;
        }
        if (end.addr.af !== addr.af) {
          diags.error(loc, `Range address families do not match ${first} - skipping`);
          return;
        }
        if (end.addr.compare(addr) < 0) {
          diags.error(
            loc,
            `Address range end is less than address range start - ${first} - skipping`,
          );
          return;
        }
        last = end.addr;
      } else {
        // inet_stor(): the end replaces the last octet (IPv4) or last 16-bit group (IPv6).
        const isHex = addr.isV6;
        const ok = isHex ? /^[0-9a-fA-F]{1,4}$/.test(endText) : /^\d{1,3}$/.test(endText);
        const n = ok ? Number.parseInt(endText, isHex ? 16 : 10) : Number.NaN;
        if (!ok || n > (isHex ? 0xffff : 255)) {
          diags.error(loc, `Invalid range end ${first} - skipping`);
          return;
        }
        const startLow = isHex ? addr.w3 & 0xffff : addr.w3 & 0xff;
        if (startLow >= n) {
          diags.error(
            loc,
            `Address range end is not greater than address range start - ${first} - skipping`,
          );
          return;
        }
        last = replaceLow(addr, n, isHex ? 16 : 8);
      }
    }
  }
  g.entries.push({ kind: 'range', first: addr, last, port: start.port, loc });
  if (addr.isV4) g.haveV4 = true;
  else g.haveV6 = true;
}

function hostBitsSet(a: InetAddr, prefix: number): InetAddr {
  const hostMask = (bitsInWord: number): number =>
    bitsInWord >= 32 ? 0 : bitsInWord <= 0 ? 0xffffffff : 0xffffffff >>> bitsInWord;
  if (a.isV4) return InetAddr.v4((a.w3 | hostMask(prefix)) >>> 0);
  return InetAddr.v6(
    (a.w0 | hostMask(prefix)) >>> 0,
    (a.w1 | hostMask(prefix - 32)) >>> 0,
    (a.w2 | hostMask(prefix - 64)) >>> 0,
    (a.w3 | hostMask(prefix - 96)) >>> 0,
  );
}

function replaceLow(a: InetAddr, value: number, bits: 8 | 16): InetAddr {
  const mask = bits === 8 ? 0xff : 0xffff;
  const w3 = ((a.w3 & ~mask) | value) >>> 0;
  return a.isV4 ? InetAddr.v4(w3) : InetAddr.v6(a.w0, a.w1, a.w2, w3);
}
