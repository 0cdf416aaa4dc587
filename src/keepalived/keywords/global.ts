/**
 * `global_defs` and the top-level global keywords (keepalived/core/global_parser.c, 2.2.7):
 * every keyword keepalived 2.2.7 accepts is accepted and its value checked; those that
 * matter to LVS and VRRP are kept in the model, the others as written.
 */
import { AF_INET, AF_INET6, type InetAddr } from '../../net/addr.js';
import { INT_MAX, readDecimal, readInt, readUnsigned, UINT_MAX } from '../grammar/numbers.js';
import type { Keyword, KeywordContext } from '../grammar/parser.js';
import { parseBool } from '../grammar/text.js';
import type { GlobalDefs, LvsSyncDaemon, VrrpGlobals } from '../model.js';
import { LVS_MAX_TIMEOUT } from './check.js';
import {
  atLeastOneAt,
  intAt,
  optionalBool,
  parseSockAddr,
  scriptFrom,
  unsignedAt,
} from './values.js';

/** keepalived's default VRRP global values (vrrp.h, global_data.c). */
export function defaultGlobals(): GlobalDefs {
  return {
    notificationEmail: [],
    smtpConnectTimeout: 30,
    checkerLogAllFailures: false,
    lvsTimeouts: {},
    lvsFlush: false,
    lvsFlushOnStop: 'none',
    enableScriptSecurity: false,
    rsInitNotifies: false,
    noCheckerEmails: false,
    dynamicInterfaces: false,
    vrrp: {
      version: 2,
      garpMasterDelay: 5,
      garpMasterRepeat: 5,
      garpMasterRefresh: 0,
      garpMasterRefreshRepeat: 1,
      garpInterval: 0,
      gnaInterval: 0,
      lowerPrioNoAdvert: false,
      higherPrioSendAdvert: false,
      checkUnicastSrc: false,
      skipCheckAdvAddr: false,
      strict: false,
      notifyPriorityChanges: false,
      startupDelay: 0,
    },
    keywords: [],
  };
}

const TIMER_HZ = 1_000_000;
const TASK_COMM_LEN = 16;
const IP_VS_IFNAME_MAXLEN = 16;
const NFT_TABLE_MAXNAMELEN = 256;
/** sched_get_priority_max(SCHED_RR) on Linux. */
const RT_PRIORITY_MAX = 99;
const RT_PRIORITY_MIN = 1;

type Handler = (ctx: KeywordContext, g: GlobalDefs) => void;

/** Applies `include_check` options to the reader; returns the options it did not know. */
export type IncludeCheckSetter = (words: string[]) => string[];

function flag(set: (g: GlobalDefs) => void): Handler {
  return (_ctx, g) => set(g);
}

function boolOpt(
  message: (w: string) => string,
  set: (g: GlobalDefs, v: boolean) => void,
): Handler {
  return (ctx, g) => {
    const b = optionalBool(ctx, message);
    if (b !== undefined) set(g, b);
  };
}

function uint(
  min: number,
  max: number,
  message: (w: string) => string,
  set?: (g: GlobalDefs, v: number) => void,
): Handler {
  return (ctx, g) => {
    const v = unsignedAt(ctx, 1, min, max, message);
    if (v !== undefined) set?.(g, v);
  };
}

function int(min: number, max: number, message: (w: string) => string): Handler {
  return (ctx) => {
    intAt(ctx, 1, min, max, message);
  };
}

function text(missing: string | null, set?: (g: GlobalDefs, v: string) => void): Handler {
  return (ctx, g) => {
    if (ctx.words.length < 2) {
      if (missing !== null) ctx.error(missing);
      else ctx.word(1);
      return;
    }
    set?.(g, ctx.words[1]);
  };
}

/** A name that may be given once (net_namespace, instance); a second one is ignored. */
function onceName(keyword: string, key: 'netNamespace' | 'instance'): Handler {
  return (ctx, g) => {
    if (ctx.words.length < 2) {
      ctx.error(`${keyword} name missing - ignoring`);
      return;
    }
    if (g[key] !== undefined) {
      ctx.error(`Duplicate ${keyword} definition ${ctx.words[1]} - ignoring`);
      return;
    }
    g[key] = ctx.words[1];
  };
}

function processName(ctx: KeywordContext): void {
  const name = ctx.words[1];
  if (name === undefined) {
    ctx.error('Process name missing');
    return;
  }
  if (name.length >= TASK_COMM_LEN) {
    ctx.warning(`Process name ${name} more than ${TASK_COMM_LEN - 1} characters, truncating`);
  }
}

/** A double timer with micro-second resolution in [minSeconds, maxSeconds]. */
function seconds(
  min: number,
  max: number,
  message: (w: string) => string,
  set?: (g: GlobalDefs, v: number) => void,
): Handler {
  return (ctx, g) => {
    const w = ctx.word(1);
    const r = readDecimal(
      w,
      BigInt(Math.round(min * TIMER_HZ)),
      BigInt(Math.round(max * TIMER_HZ)),
      6,
    );
    if (!r.ok) {
      ctx.error(`${message(w)} (${r.reason})`);
      return;
    }
    set?.(g, Number(r.value) / TIMER_HZ);
  };
}

/** Where each notify fifo is kept in the model. */
type FifoKey = 'notifyFifo' | 'vrrpNotifyFifo' | 'lvsNotifyFifo';

function fifo(type: string, key: FifoKey): Handler {
  return (ctx, g) => {
    if (ctx.words.length < 2) {
      ctx.error(`No ${type}notify_fifo name specified`);
      return;
    }
    const old = g[key];
    if (old?.path !== undefined) {
      ctx.error(`${type}notify_fifo already specified - ignoring ${ctx.words[1]}`);
      return;
    }
    g[key] = {
      ...old,
      path: ctx.words[1],
      ...(ctx.words[2] !== undefined ? { user: ctx.words[2] } : {}),
      ...(ctx.words[3] !== undefined ? { group: ctx.words[3] } : {}),
      loc: ctx.loc,
    };
  };
}

function fifoScript(type: string, key: FifoKey): Handler {
  return (ctx, g) => {
    if (ctx.words.length < 2) {
      ctx.error(`No ${type}notify_fifo_script specified`);
      return;
    }
    const old = g[key];
    if (old?.script) {
      ctx.error(`${type}notify_fifo_script already specified - ignoring ${ctx.words[1]}`);
      return;
    }
    const script = scriptFrom(ctx, `${type}notify_fifo`);
    if (script) g[key] = { ...(old ?? { loc: ctx.loc }), script };
  };
}

/** The numbers of the VRRP globals that keywords set. */
type VrrpTiming =
  | 'garpMasterDelay'
  | 'garpMasterRepeat'
  | 'garpMasterRefresh'
  | 'garpMasterRefreshRepeat'
  | 'garpLowerPrioDelay'
  | 'garpLowerPrioRepeat'
  | 'garpInterval'
  | 'gnaInterval'
  | 'startupDelay';

/** The VRRP globals that switch on or off. */
type VrrpSwitch = 'lowerPrioNoAdvert' | 'higherPrioSendAdvert' | 'notifyPriorityChanges';

/** The setter a checked value goes through to `g.vrrp[key]`. */
function toVrrp<K extends VrrpTiming | VrrpSwitch>(
  key: K,
): (g: GlobalDefs, v: VrrpGlobals[K]) => void {
  return (g, v) => {
    g.vrrp[key] = v;
  };
}

/** A VRRP global timer in seconds from `min`, with keepalived's "<keyword> '<w>' is invalid". */
function vrrpSeconds(keyword: string, min: number, key: VrrpTiming): Handler {
  return seconds(
    min,
    Math.floor(UINT_MAX / TIMER_HZ),
    (w) => `${keyword} '${w}' is invalid`,
    toVrrp(key),
  );
}

const lvsTimeouts: Handler = (ctx, g) => {
  const w = ctx.words;
  if (w.length < 3) {
    ctx.error('lvs_timeouts requires at least one option');
    return;
  }
  for (let i = 1; i < w.length; i++) {
    const opt = w[i];
    if (opt === 'tcp' || opt === 'tcpfin' || opt === 'udp') {
      if (i === w.length - 1) {
        ctx.error(`No value specified for lvs_timeout ${opt} - ignoring`);
        continue;
      }
      const r = readUnsigned(w[i + 1], 0, LVS_MAX_TIMEOUT);
      if (!r.ok) ctx.error(`Invalid lvs_timeout ${opt} (${w[i + 1]}) - ignoring (${r.reason})`);
      else if (opt === 'tcp') g.lvsTimeouts.tcp = r.value;
      else if (opt === 'tcpfin') g.lvsTimeouts.tcpFin = r.value;
      else g.lvsTimeouts.udp = r.value;
      i++;
      continue;
    }
    ctx.error(`Unknown option ${opt} specified for lvs_timeouts`);
  }
};

const lvsSyncDaemon: Handler = (ctx, g) => {
  const w = ctx.words;
  if (g.lvsSyncDaemon) {
    ctx.error(
      `lvs_sync_daemon has already been specified as ${g.lvsSyncDaemon.interface} ${g.lvsSyncDaemon.vrrpInstance ?? ''} - ignoring`,
    );
    return;
  }
  if (w.length < 2) {
    ctx.error('lvs_sync_daemon requires interface');
    return;
  }
  if (w[1].length >= IP_VS_IFNAME_MAXLEN) {
    ctx.error(`lvs_sync_daemon interface name '${w[1]}' too long - ignoring`);
    return;
  }
  const d: { -readonly [K in keyof LvsSyncDaemon]: LvsSyncDaemon[K] } = {
    interface: w[1],
    loc: ctx.loc,
  };
  const num = (i: number, min: number, max: number, label: string): number | undefined => {
    const r = readUnsigned(w[i], min, max);
    if (!r.ok) {
      ctx.error(`Invalid lvs_sync_daemon ${label} (${w[i]}) - ignoring (${r.reason})`);
      return undefined;
    }
    return r.value;
  };
  for (let i = 2; i < w.length; i++) {
    const opt = w[i];
    if (opt === 'inst') {
      if (d.vrrpInstance !== undefined) {
        ctx.error(
          `lvs_sync_daemon vrrp instance has already been specified as ${d.vrrpInstance} - ignoring`,
        );
      } else d.vrrpInstance = ctx.word(i + 1);
      i++;
      continue;
    }
    if (opt === 'id' || opt === 'maxlen' || opt === 'port' || opt === 'ttl' || opt === 'group') {
      if (i === w.length - 1) {
        ctx.error(
          `No value specified for lvs_sync_daemon ${opt}${opt === 'id' ? ', defaulting to vrid' : ' - ignoring'}`,
        );
        continue;
      }
      if (opt === 'id') {
        const r = readUnsigned(w[i + 1], 0, 255);
        if (!r.ok) ctx.error(`Invalid syncid (${w[i + 1]}) - defaulting to vrid (${r.reason})`);
        else d.syncId = r.value;
      } else if (opt === 'maxlen') {
        const v = num(i + 1, 1, 65535 - 20 - 8, 'maxlen');
        if (v !== undefined) d.maxLen = v;
      } else if (opt === 'port') {
        const v = num(i + 1, 1, 65535, 'port');
        if (v !== undefined) d.port = v;
      } else if (opt === 'ttl') {
        const v = num(i + 1, 1, 255, 'ttl');
        if (v !== undefined) d.ttl = v;
      } else {
        const r = parseSockAddr(w[i + 1]);
        if (!r.ok) ctx.error(`Invalid lvs_sync_daemon group (${w[i + 1]}) - ignoring`);
        else if (!isMulticast(r.addr)) {
          ctx.error(`lvs_sync_daemon group address ${w[i + 1]} is not multicast - ignoring`);
        } else d.group = r.addr;
      }
      i++;
      continue;
    }
    // The old form: lvs_sync_daemon IF VRRP_INSTANCE [SYNC_ID].
    if (i === 2) {
      d.vrrpInstance = opt;
      continue;
    }
    if (i === 3) {
      const r = readUnsigned(opt, 0, 255);
      if (!r.ok) ctx.error(`Invalid syncid (${opt}) - defaulting to vrid (${r.reason})`);
      else {
        ctx.warning('Please use keyword "id" before lvs_sync_daemon SYNCID');
        d.syncId = r.value;
      }
      continue;
    }
    ctx.error(`Unknown option ${opt} specified for lvs_sync_daemon`);
  }
  g.lvsSyncDaemon = d;
};

function isMulticast(a: InetAddr): boolean {
  return a.isV4 ? a.w3 >>> 28 === 0xe : a.w0 >>> 24 === 0xff;
}

function mcastGroup(family: 4 | 6): Handler {
  return (ctx, g) => {
    const r = parseSockAddr(ctx.word(1));
    if (!r.ok || r.addr.af !== (family === 4 ? AF_INET : AF_INET6)) {
      ctx.error(
        `Configuration error: Cant parse vrrp_mcast_group${family} [${ctx.words[1]}]. Skipping`,
      );
      return;
    }
    if (family === 4) g.vrrp.mcastGroup4 = r.addr;
    else g.vrrp.mcastGroup6 = r.addr;
  };
}

function repeatAtLeastOne(name: string, set: (g: GlobalDefs, v: number) => void): Handler {
  return (ctx, g) => {
    const v = atLeastOneAt(ctx, 1, UINT_MAX, (w) => `${name} '${w}' invalid - ignoring`, name);
    if (v !== undefined) set(g, v);
  };
}

function rtPriority(process: string): Handler {
  return (ctx) => {
    if (ctx.words.length < 2) {
      ctx.error(`No ${process} process real-time priority specified`);
      return;
    }
    const r = readInt(ctx.words[1], -INT_MAX - 1, INT_MAX);
    if (!r.ok) {
      ctx.error(`${process} process real-time priority '${ctx.words[1]}' invalid (${r.reason})`);
      return;
    }
    if (r.value < RT_PRIORITY_MIN) {
      ctx.warning(
        `${process} process real-time priority ${r.value} less than minimum ${RT_PRIORITY_MIN} - setting to minimum`,
      );
    } else if (r.value > RT_PRIORITY_MAX) {
      ctx.warning(
        `${process} process real-time priority ${r.value} greater than maximum ${RT_PRIORITY_MAX} - setting to maximum`,
      );
    }
  };
}

function priority(process: string): Handler {
  return (ctx) => {
    if (ctx.words.length < 2) {
      ctx.error(`No ${process} process priority specified`);
      return;
    }
    const r = readInt(ctx.words[1], -20, 19);
    if (!r.ok) ctx.error(`Invalid ${process} process priority specified (${r.reason})`);
  };
}

function cpuAffinity(process: string, cpus: number): Handler {
  return (ctx) => {
    if (ctx.words.length < 2) {
      ctx.error(`No ${process} cpu_id set specified`);
      return;
    }
    for (const w of ctx.words.slice(1)) {
      const r = readInt(w, 0, cpus - 1);
      if (!r.ok) {
        ctx.error(`Invalid cpu_id:${w} specified for ${process} process (${r.reason})`);
        return;
      }
    }
  };
}

function rtRlimit(process: string): Handler {
  return (ctx) => {
    const kw = ctx.words[0];
    if (kw.endsWith('_rtime')) {
      ctx.parser.diags.uvsOnly(
        'warning',
        ctx.loc,
        `Keyword '${kw}' is deprecated - please use '${kw.slice(0, -5)}rttime'`,
      );
    }
    unsignedAt(ctx, 1, 1, UINT_MAX, (w) => `Invalid ${process} real-time limit - ${w}`);
  };
}

/** `<type>_rcv_bufs SIZE` and `<type>_rcv_bufs_force [BOOL]`, for each netlink socket. */
function rcvBufsKeywords(type: string): Record<string, Handler> {
  return {
    [`${type}_rcv_bufs`]: (ctx) => {
      if (ctx.words.length < 2) {
        ctx.error(`${type}_rcv_bufs size missing`);
        return;
      }
      unsignedAt(ctx, 1, 0, UINT_MAX, (w) => `${type}_rcv_bufs size (${w}) invalid`);
    },
    [`${type}_rcv_bufs_force`]: boolOpt(
      () => `Invalid value for ${type}_rcv_bufs_force`,
      () => {},
    ),
  };
}

/** The scheduling keywords of each keepalived child process (`<process>_priority`, ...). */
function processKeywords(
  process: 'vrrp' | 'checker' | 'bfd',
  cpus: number,
): Record<string, Handler> {
  return {
    [`${process}_priority`]: priority(process),
    [`${process}_no_swap`]: flag(() => {}),
    [`${process}_rt_priority`]: rtPriority(process),
    [`${process}_cpu_affinity`]: cpuAffinity(process, cpus),
    [`${process}_rlimit_rttime`]: rtRlimit(process),
    [`${process}_rlimit_rtime`]: rtRlimit(process),
  };
}

const umask: Handler = (ctx) => {
  const rest = ctx.words.slice(1).join('');
  if (rest === '') {
    ctx.error('umask missing bit value');
    return;
  }
  if (/^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.test(rest)) {
    const v = Number(
      rest.startsWith('0') && !/^0[xX]/.test(rest) ? Number.parseInt(rest, 8) : rest,
    );
    if (v > 0o777) ctx.error(`invalid umask value ${rest}`);
    return;
  }
  const bits = ['IRUSR', 'IWUSR', 'IXUSR', 'IRGRP', 'IWGRP', 'IXGRP', 'IROTH', 'IWOTH', 'IXOTH'];
  for (const b of rest.split('|')) {
    if (b === '') {
      ctx.error(`Invalid umask syntax ${rest}`);
      return;
    }
    if (!bits.includes(b)) {
      ctx.error(`Unknown umask bit ${b}`);
      return;
    }
  }
};

function globalHandlers(
  setIncludeCheck: IncludeCheckSetter,
  cpus: number,
): Record<string, Handler> {
  return {
    process_names: flag(() => {}),
    process_name: processName,
    vrrp_process_name: processName,
    checker_process_name: processName,
    lvs_process_name: (ctx) => {
      ctx.parser.diags.uvsOnly(
        'warning',
        ctx.loc,
        "'lvs_process_name' is deprecated - please use 'checker_process_name'",
      );
      processName(ctx);
    },
    bfd_process_name: processName,
    router_id: text('routerid name missing - ignoring', (g, v) => {
      g.routerId = v;
    }),
    notification_email_from: text('emailfrom missing - ignoring', (g, v) => {
      g.notificationEmailFrom = v;
    }),
    smtp_server: (ctx, g) => {
      const host = ctx.word(1);
      const portText = ctx.words[2] ?? '25';
      const r = readUnsigned(portText, 1, 65535);
      const isAddress = !/[-/]/.test(host) && parseSockAddr(host).ok;
      const isName = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host);
      if (!r.ok || (!isAddress && !isName)) {
        ctx.error(`Invalid smtp server ${host} ${portText}`);
        return;
      }
      g.smtpServer = { host, port: r.value };
    },
    smtp_helo_name: (ctx, g) => {
      if (ctx.words.length >= 2) g.smtpHeloName = ctx.words[1];
    },
    smtp_connect_timeout: (ctx, g) => {
      const v = atLeastOneAt(
        ctx,
        1,
        Math.floor(UINT_MAX / TIMER_HZ),
        (w) =>
          `smtp_connect_timeout '${w}' must be in [0, ${Math.floor(UINT_MAX / TIMER_HZ)}] - ignoring`,
        // keepalived's own spelling in this warning
        'smtp_conect_timeout',
      );
      if (v !== undefined) g.smtpConnectTimeout = v;
    },
    notification_email: (ctx, g) => {
      const lines = ctx.parser.readValueBlock(ctx);
      if (lines.length === 0) {
        ctx.warning('Warning - empty notification_email block');
        return;
      }
      for (const l of lines) g.notificationEmail.push(...l.words);
    },
    smtp_alert: boolOpt(
      (w) => `Invalid value '${w}' for global smtp_alert specified`,
      (g, v) => {
        g.smtpAlert = v;
      },
    ),
    startup_script: (ctx) => startupScript(ctx, 'startup'),
    startup_script_timeout: (ctx) => scriptTimeout(ctx, 'startup'),
    shutdown_script: (ctx) => startupScript(ctx, 'shutdown'),
    shutdown_script_timeout: (ctx) => scriptTimeout(ctx, 'shutdown'),
    max_auto_priority: (ctx) => {
      if (ctx.words.length < 2) return;
      const r = readInt(ctx.words[1], -1, RT_PRIORITY_MAX);
      if (!r.ok) {
        ctx.error(
          `max_auto_priority '${ctx.words[1]}' must be in [0, ${RT_PRIORITY_MAX}] (or -1 to disable) - ignoring (${r.reason})`,
        );
      }
    },
    min_auto_priority_delay: (ctx) => {
      if (ctx.words.length < 2) {
        ctx.error('min_auto_priority_delay requires delay time');
        return;
      }
      const r = readInt(ctx.words[1], 1, 10000000);
      if (!r.ok) {
        ctx.error(
          `min_auto_priority_delay '${ctx.words[1]}' must be in [1, 10000000] - ignoring (${r.reason})`,
        );
      }
    },
    smtp_alert_vrrp: boolOpt(
      (w) => `Invalid value '${w}' for global smtp_alert_vrrp specified`,
      (g, v) => {
        g.smtpAlertVrrp = v;
      },
    ),
    smtp_alert_checker: boolOpt(
      (w) => `Invalid value '${w}' for global smtp_alert_checker specified`,
      (g, v) => {
        g.smtpAlertChecker = v;
      },
    ),
    checker_log_all_failures: boolOpt(
      () => 'Invalid value for checker_log_all_failures specified',
      (g, v) => {
        g.checkerLogAllFailures = v;
      },
    ),
    dynamic_interfaces: (ctx, g) => {
      g.dynamicInterfaces = true;
      if (ctx.words.length >= 2 && ctx.words[1] !== 'allow_if_changes') {
        ctx.error(`Unknown dynamic_interfaces option '${ctx.words[1]}'`);
      }
    },
    no_email_faults: flag(() => {}),
    default_interface: text('default_interface requires interface name', (g, v) => {
      g.defaultInterface = v;
    }),
    disable_local_igmp: flag(() => {}),
    lvs_timeouts: lvsTimeouts,
    lvs_flush: flag((g) => {
      g.lvsFlush = true;
    }),
    lvs_flush_on_stop: lvsFlushOnStop,
    lvs_flush_onstop: lvsFlushOnStop,
    lvs_sync_daemon: lvsSyncDaemon,
    vrrp_mcast_group4: mcastGroup(4),
    vrrp_mcast_group6: mcastGroup(6),
    vrrp_garp_master_delay: uint(
      0,
      Math.floor(UINT_MAX / TIMER_HZ),
      (w) => `vrrp_garp_master_delay '${w}' invalid - ignoring`,
      toVrrp('garpMasterDelay'),
    ),
    vrrp_garp_master_repeat: repeatAtLeastOne(
      'vrrp_garp_master_repeat',
      toVrrp('garpMasterRepeat'),
    ),
    vrrp_garp_master_refresh: uint(
      0,
      UINT_MAX,
      (w) => `Invalid vrrp_garp_master_refresh '${w}' - ignoring`,
      toVrrp('garpMasterRefresh'),
    ),
    vrrp_garp_master_refresh_repeat: repeatAtLeastOne(
      'vrrp_garp_master_refresh_repeat',
      toVrrp('garpMasterRefreshRepeat'),
    ),
    vrrp_garp_lower_prio_delay: uint(
      0,
      Math.floor(UINT_MAX / TIMER_HZ),
      (w) => `vrrp_garp_lower_prio_delay '${w}' invalid - ignoring`,
      toVrrp('garpLowerPrioDelay'),
    ),
    vrrp_garp_lower_prio_repeat: uint(
      0,
      INT_MAX,
      (w) => `Invalid vrrp_garp_lower_prio_repeat '${w}'`,
      toVrrp('garpLowerPrioRepeat'),
    ),
    vrrp_garp_interval: vrrpSeconds('vrrp_garp_interval', 1 / TIMER_HZ, 'garpInterval'),
    vrrp_gna_interval: vrrpSeconds('vrrp_gna_interval', 1 / TIMER_HZ, 'gnaInterval'),
    vrrp_min_garp: (ctx, g) => {
      if (ctx.words.length >= 2) {
        const b = parseBool(ctx.words[1]);
        if (b === null) {
          ctx.error('Invalid value for vrrp_min_garp specified');
          return;
        }
        if (!b) return;
      }
      g.vrrp.garpMasterRepeat = 1;
      g.vrrp.garpMasterRefresh = 0;
      g.vrrp.garpMasterRefreshRepeat = 0;
      g.vrrp.garpMasterDelay = 0;
    },
    vrrp_garp_extra_if: garpExtraIf,
    vrrp_vmac_garp_intvl: (ctx) => {
      ctx.warning('Keyword "vrrp_vmac_garp_intvl" is deprecated - please use "vrrp_garp_extra_if"');
      garpExtraIf(ctx);
    },
    vrrp_lower_prio_no_advert: boolOpt(
      () => 'Invalid value for vrrp_lower_prio_no_advert specified',
      toVrrp('lowerPrioNoAdvert'),
    ),
    vrrp_higher_prio_send_advert: boolOpt(
      () => 'Invalid value for vrrp_higher_prio_send_advert specified',
      toVrrp('higherPrioSendAdvert'),
    ),
    vrrp_version: (ctx, g) => {
      const r = readInt(ctx.word(1), 2, 3);
      if (!r.ok) {
        ctx.error(`VRRP Error: Version must be either 2 or 3 (${r.reason})`);
        return;
      }
      g.vrrp.version = r.value as 2 | 3;
    },
    vrrp_iptables: (ctx) => {
      ctx.warning(
        "iptables not supported, using nftables instead. Please replace 'vrrp_iptables and 'vrrp_ipsets' with 'nftables' config option",
      );
    },
    nftables: (ctx) => {
      if (ctx.words.length >= 2 && ctx.words[1].length >= NFT_TABLE_MAXNAMELEN) {
        ctx.error('nftables table name too long - ignoring');
      }
    },
    nftables_priority: int(-INT_MAX - 1, INT_MAX, (w) => `invalid nftables chain priority '${w}'`),
    nftables_ifindex: flag(() => {}),
    nftables_ipvs: (ctx) => {
      if (ctx.words.length >= 2 && ctx.words[1].length >= NFT_TABLE_MAXNAMELEN) {
        ctx.error('ipvs nftables table name too long - ignoring');
      }
    },
    nftables_ipvs_priority: int(
      -INT_MAX - 1,
      INT_MAX,
      (w) => `invalid ipvs nftables chain priority '${w}'`,
    ),
    nftables_ipvs_start_fwmark: uint(
      1,
      UINT_MAX,
      (w) => `invalid ipvs nftables start_fwmark priority '${w}'`,
    ),
    nftables_counters: flag(() => {}),
    vrrp_check_unicast_src: flag((g) => {
      g.vrrp.checkUnicastSrc = true;
    }),
    vrrp_skip_check_adv_addr: flag((g) => {
      g.vrrp.skipCheckAdvAddr = true;
    }),
    vrrp_strict: flag((g) => {
      g.vrrp.strict = true;
    }),
    ...processKeywords('vrrp', cpus),
    notify_fifo: fifo('', 'notifyFifo'),
    notify_fifo_script: fifoScript('', 'notifyFifo'),
    vrrp_notify_fifo: fifo('vrrp_', 'vrrpNotifyFifo'),
    vrrp_notify_fifo_script: fifoScript('vrrp_', 'vrrpNotifyFifo'),
    vrrp_notify_priority_changes: boolOpt(
      (w) => `Invalid value '${w}' for global vrrp_notify_priority_changes specified`,
      toVrrp('notifyPriorityChanges'),
    ),
    lvs_notify_fifo: fifo('lvs_', 'lvsNotifyFifo'),
    lvs_notify_fifo_script: fifoScript('lvs_', 'lvsNotifyFifo'),
    ...processKeywords('checker', cpus),
    ...processKeywords('bfd', cpus),
    snmp_socket: (ctx) => {
      if (ctx.words.length > 2)
        ctx.error('Too many parameters specified for snmp_socket - ignoring');
      else if (ctx.words.length < 2) ctx.error('SNMP error : snmp socket name missing');
    },
    enable_traps: flag(() => {}),
    enable_snmp_vrrp: flag(() => {}),
    enable_snmp_keepalived: flag(() => {}),
    enable_snmp_rfc: flag(() => {}),
    enable_snmp_rfcv2: flag(() => {}),
    enable_snmp_rfcv3: flag(() => {}),
    enable_snmp_checker: flag(() => {}),
    enable_dbus: flag(() => {}),
    dbus_service_name: text('dbus_service_name missing - ignoring'),
    script_user: (ctx, g) => {
      if (ctx.words.length < 2) {
        ctx.error('No script username specified');
        return;
      }
      g.scriptUser =
        ctx.words[2] !== undefined
          ? { user: ctx.words[1], group: ctx.words[2] }
          : { user: ctx.words[1] };
    },
    enable_script_security: flag((g) => {
      g.enableScriptSecurity = true;
    }),
    ...rcvBufsKeywords('vrrp_netlink_cmd'),
    ...rcvBufsKeywords('vrrp_netlink_monitor'),
    ...rcvBufsKeywords('process_monitor'),
    ...rcvBufsKeywords('lvs_netlink_cmd'),
    ...rcvBufsKeywords('lvs_netlink_monitor'),
    rs_init_notifies: flag((g) => {
      g.rsInitNotifies = true;
    }),
    no_checker_emails: flag((g) => {
      g.noCheckerEmails = true;
    }),
    vrrp_rx_bufs_policy: (ctx) => {
      if (ctx.words.length < 2) {
        ctx.error('vrrp_rx_bufs_policy missing');
        return;
      }
      let size = false;
      let mtu = false;
      let advert = false;
      for (const w of ctx.words.slice(1)) {
        if (w.toUpperCase() === 'MTU') mtu = true;
        else if (w.toUpperCase() === 'ADVERT') advert = true;
        else if (readUnsigned(ctx.words[1], 0, UINT_MAX).ok) size = true;
        else ctx.error(`Invalid vrrp_rx_bufs_policy ${w}`);
      }
      if (size && (mtu || advert))
        ctx.warning('Cannot set vrrp_rx_bufs_policy size and policy, ignoring policy');
      else if (mtu && advert)
        ctx.warning('Cannot set both vrrp_rx_bufs_policy MTU and ADVERT, ignoring ADVERT');
    },
    vrrp_rx_bufs_multiplier: (ctx) => {
      if (ctx.words.length !== 2) {
        ctx.error('Invalid vrrp_rx_bufs_multiplier');
        return;
      }
      unsignedAt(ctx, 1, 1, UINT_MAX, (w) => `Invalid vrrp_rx_bufs_multiplier ${w}`);
    },
    vrrp_startup_delay: vrrpSeconds('vrrp_startup_delay', 0, 'startupDelay'),
    log_unknown_vrids: flag(() => {}),
    vmac_prefix: text(null),
    vmac_addr_prefix: text(null),
    umask,
    random_seed: uint(0, UINT_MAX, (w) => `random_seed ${w} invalid`),
    reload_check_config: flag(() => {}),
    reload_time_file: (ctx) => {
      if (ctx.words.length !== 2) ctx.error('reload_time_file invalid');
    },
    reload_repeat: flag(() => {}),
    reload_file: flag(() => {}),
    include_check: (ctx) => {
      for (const bad of setIncludeCheck(ctx.words.slice(1))) {
        ctx.error(`Unknown include_check option ${bad}`);
      }
    },
    config_save_dir: text('config_save_dir missing directory name'),
    tmp_config_directory: text(`tmp_config_directory missing directory name`),
    data_use_instance: boolOpt(
      (w) => `Invalid value '${w}' for global date_use_instance specified`,
      () => {},
    ),
  };
}

function lvsFlushOnStop(ctx: KeywordContext, g: GlobalDefs): void {
  if (ctx.words[0] === 'lvs_flush_onstop') {
    ctx.parser.diags.uvsOnly(
      'warning',
      ctx.loc,
      "'lvs_flush_onstop' is deprecated - please use 'lvs_flush_on_stop'",
    );
  }
  if (ctx.words.length === 1) g.lvsFlushOnStop = 'full';
  else if (ctx.words[1] === 'VS') g.lvsFlushOnStop = 'vs';
  else ctx.error(`Unknown lvs_flush_on_stop type ${ctx.words[1]}`);
}

function garpExtraIf(ctx: KeywordContext): void {
  let delay: number | undefined;
  for (const w of ctx.words.slice(1)) {
    if (w === 'all') continue;
    const r = readUnsigned(w, 1, 86400);
    if (!r.ok) {
      ctx.error(`${ctx.words[0]} '${w}' invalid - ignoring (${r.reason})`);
      return;
    }
    delay = r.value;
  }
  if (delay === undefined) ctx.error(`${ctx.words[0]} specified without time - ignoring`);
}

function startupScript(ctx: KeywordContext, type: string): void {
  if (ctx.words.length < 2) {
    ctx.error(`${type} script missing`);
    return;
  }
  if (!scriptFrom(ctx, type)) ctx.error(`Invalid ${type} script`);
}

function scriptTimeout(ctx: KeywordContext, type: string): void {
  if (ctx.words.length < 2) {
    ctx.error(`${type}_script_timeout requires value`);
    return;
  }
  const r = readUnsigned(ctx.words[1], 1, 1000);
  if (!r.ok)
    ctx.error(
      `${type}_script_timeout '${ctx.words[1]}' must be in [1, 1000] - ignoring (${r.reason})`,
    );
}

/**
 * The global root keywords: `global_defs { ... }` and the top-level ones (net_namespace,
 * instance, ...). `active` is false in the passes that stand for keepalived's checker and
 * VRRP processes, which skip global_defs (the parent process reads it).
 */
export function globalKeywords(
  g: GlobalDefs,
  setIncludeCheck: IncludeCheckSetter,
  active: boolean,
  cpus: number,
): Keyword[] {
  /** Keeps the line as written in `g.keywords`, then checks it. */
  const recorded =
    (name: string, h: Handler) =>
    (ctx: KeywordContext): void => {
      g.keywords.push({ keyword: name, args: ctx.words.slice(1), loc: ctx.loc });
      h(ctx, g);
    };
  const handlers = globalHandlers(setIncludeCheck, cpus);
  const sub: Keyword[] = Object.entries(handlers).map(([name, h]) => ({
    name,
    handler: recorded(name, h),
  }));
  const top = (name: string, h: Handler): Keyword => ({
    name,
    active,
    handler: recorded(name, h),
  });
  return [
    top(
      'linkbeat_use_polling',
      flag(() => {}),
    ),
    top('net_namespace', onceName('net_namespace', 'netNamespace')),
    top(
      'net_namespace_ipvs',
      flag(() => {}),
    ),
    top(
      'namespace_with_ipsets',
      flag(() => {}),
    ),
    top(
      'use_pid_dir',
      flag(() => {}),
    ),
    top('instance', onceName('instance', 'instance')),
    top(
      'child_wait_time',
      uint(0, UINT_MAX, (w) => `Invalid child_wait_time ${w}`),
    ),
    { name: 'global_defs', active, sub },
  ];
}
