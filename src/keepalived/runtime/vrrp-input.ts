/**
 * The VRRP half of a keepalived.conf, as the VRRP router (src/ha/vrrp-router.ts) runs it:
 * the model's vrrp_instance / vrrp_sync_group / vrrp_script blocks and the global VRRP
 * defaults, turned into a resolved VrrpConfig. What uvs cannot run as keepalived would
 * (use_vmac, AH authentication, IPv6 instances, virtual_routes/rules, track_file,
 * static_ipaddress) is refused with the block's FILE:LINE rather than run without it.
 */
import {
  resolveVrrpConfig,
  type VrrpConfig,
  VrrpConfigError,
  type VrrpConfigInput,
  type VrrpInstanceInput,
} from '../../ha/vrrp-config.js';
import { AF_INET } from '../../net/addr.js';
import type { Loc } from '../diagnostics.js';
import type {
  KeepalivedConfig,
  ScriptSpec,
  TrackReference,
  VrrpInstance,
  VrrpSyncGroup,
} from '../model.js';

export type VrrpInputResult =
  | { ok: true; config: VrrpConfig | null }
  | { ok: false; problems: string[] };

function at(loc: Loc | undefined): string {
  return loc ? `${loc.file}:${loc.line}: ` : '';
}

/** A script's argv as one command line that vrrp-track's splitCommand splits back. */
export function commandLine(s: ScriptSpec | undefined): string | undefined {
  if (s === undefined) return undefined;
  return s.args
    .map((a) => (a === '' || /[\s"'\\]/.test(a) ? `"${a.replace(/(["\\])/g, '\\$1')}"` : a))
    .join(' ');
}

function trackRefs(refs: readonly TrackReference[]) {
  return refs.map((r) => ({
    name: r.name,
    ...(r.weight !== undefined ? { weight: r.weight, reverse: r.reverse } : {}),
  }));
}

function instanceProblems(i: VrrpInstance): string[] {
  const p: string[] = [];
  const w = `${at(i.loc)}error: vrrp_instance ${i.name}: `;
  if (i.interface === undefined) p.push(`${w}no interface`);
  if (i.family !== AF_INET) p.push(`${w}IPv6 instances are not supported by uvs (IPv4 only)`);
  if (i.useVmac !== undefined) p.push(`${w}use_vmac is not supported by uvs`);
  if (i.authentication?.type === 'AH')
    p.push(`${w}auth_type AH is not supported by uvs (use PASS or none)`);
  if (i.virtualRoutes.length > 0) p.push(`${w}virtual_routes is not supported by uvs`);
  if (i.virtualRules.length > 0) p.push(`${w}virtual_rules is not supported by uvs`);
  if (i.trackFiles.length > 0) p.push(`${w}track_file is not supported by uvs`);
  if (i.virtualIpaddressExcluded.length > 0)
    p.push(`${w}virtual_ipaddress_excluded is not supported by uvs`);
  for (const v of i.virtualIpaddress)
    if (!v.addr.isV4)
      p.push(`${at(v.loc)}error: ${v.addr}: IPv6 virtual addresses are not supported`);
  return p;
}

function groupProblems(g: VrrpSyncGroup): string[] {
  return g.trackFiles.length > 0
    ? [`${at(g.loc)}error: vrrp_sync_group ${g.name}: track_file is not supported by uvs`]
    : [];
}

function instanceInput(i: VrrpInstance, k: KeepalivedConfig): VrrpInstanceInput {
  const g = k.global.vrrp;
  const dev = i.interface ?? '';
  return {
    name: i.name,
    interface: dev,
    virtual_router_id: i.virtualRouterId,
    state: i.state,
    priority: i.priority,
    version: i.version,
    advert_int: i.advertInt,
    nopreempt: i.nopreempt,
    preempt_delay: i.preemptDelay,
    virtual_ipaddress: i.virtualIpaddress.map((v) =>
      [
        `${v.addr}/${v.prefixLen}`,
        ...(v.dev ? ['dev', v.dev] : []),
        ...(v.label ? ['label', v.label] : []),
        ...(v.scope ? ['scope', v.scope] : []),
        ...(v.broadcast ? ['brd', v.broadcast] : []),
      ].join(' '),
    ),
    ...(i.unicastSrcIp ? { unicast_src_ip: i.unicastSrcIp.toString() } : {}),
    unicast_peer: i.unicastPeers.map((p) => ({
      address: p.addr.toString(),
      ...(p.minTtl !== undefined ? { min_ttl: p.minTtl } : {}),
      ...(p.maxTtl !== undefined ? { max_ttl: p.maxTtl } : {}),
    })),
    ...(i.authentication?.type === 'PASS' && i.authentication.password !== undefined
      ? { auth_pass: i.authentication.password }
      : {}),
    track_script: trackRefs(i.trackScripts).map((r) => ({
      script: r.name,
      ...(r.weight !== undefined ? { weight: r.weight, reverse: r.reverse } : {}),
    })),
    track_interface: trackRefs(i.trackInterfaces),
    ...notifyInput(i.notify),
    garp_master_delay: g.garpMasterDelay,
    garp_master_repeat: g.garpMasterRepeat,
    ...(g.garpLowerPrioRepeat !== undefined
      ? { garp_lower_prio_repeat: g.garpLowerPrioRepeat }
      : {}),
    ...(g.garpLowerPrioDelay !== undefined ? { garp_lower_prio_delay: g.garpLowerPrioDelay } : {}),
    lower_prio_no_advert: g.lowerPrioNoAdvert,
    skip_check_adv_addr: g.skipCheckAdvAddr,
    check_unicast_src: g.checkUnicastSrc,
  };
}

function notifyInput(n: {
  master?: ScriptSpec;
  backup?: ScriptSpec;
  fault?: ScriptSpec;
  stop?: ScriptSpec;
  generic?: ScriptSpec;
}) {
  const out: Record<string, string> = {};
  const put = (k: string, s: ScriptSpec | undefined) => {
    const c = commandLine(s);
    if (c !== undefined) out[k] = c;
  };
  put('notify_master', n.master);
  put('notify_backup', n.backup);
  put('notify_fault', n.fault);
  put('notify_stop', n.stop);
  put('notify', n.generic);
  return out;
}

/** The file's VRRP configuration (null when it has no vrrp_instance), or its problems. */
export function vrrpConfigOf(k: KeepalivedConfig): VrrpInputResult {
  const v = k.vrrp;
  if (v.instances.length === 0) return { ok: true, config: null };
  const problems = [
    ...v.instances.flatMap(instanceProblems),
    ...v.syncGroups.flatMap(groupProblems),
  ];
  for (const a of v.staticIpaddress)
    problems.push(`${at(a.loc)}error: static_ipaddress is not supported by uvs`);
  if (problems.length > 0) return { ok: false, problems };
  const input: VrrpConfigInput = {
    global_defs: {
      ...(k.global.vrrpNotifyFifo?.path ? { vrrp_notify_fifo: k.global.vrrpNotifyFifo.path } : {}),
      vrrp_version: k.global.vrrp.version,
    },
    vrrp_script: v.scripts.map((s) => ({
      name: s.name,
      script: commandLine(s.script) ?? '',
      interval: s.interval,
      timeout: s.timeout,
      weight: s.weight,
      reverse: s.weightReverse,
      rise: s.rise,
      fall: s.fall,
      init_fail: s.initFail,
    })),
    vrrp_instance: v.instances.map((i) => instanceInput(i, k)),
    vrrp_sync_group: v.syncGroups.map((g) => ({
      name: g.name,
      group: [...g.instances],
      ...notifyInput(g.notify),
      track_script: trackRefs(g.trackScripts).map((r) => ({
        script: r.name,
        ...(r.weight !== undefined ? { weight: r.weight, reverse: r.reverse } : {}),
      })),
      track_interface: trackRefs(g.trackInterfaces),
    })),
  };
  try {
    return { ok: true, config: resolveVrrpConfig(input) };
  } catch (e) {
    if (!(e instanceof VrrpConfigError)) throw e;
    // The router names the block ("vrrp_instance VI_1: ..."): point at it.
    const m = /^(vrrp_instance|vrrp_sync_group|vrrp_script) ([^:]+):/.exec(e.message);
    const blocks: readonly { name: string; loc: Loc }[] =
      m?.[1] === 'vrrp_instance'
        ? v.instances
        : m?.[1] === 'vrrp_sync_group'
          ? v.syncGroups
          : m?.[1] === 'vrrp_script'
            ? v.scripts
            : [];
    const loc = blocks.find((b) => b.name === m?.[2])?.loc ?? v.instances[0].loc;
    return { ok: false, problems: [`${at(loc)}error: ${e.message}`] };
  }
}
