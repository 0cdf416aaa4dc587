/**
 * The checks keepalived's VRRP process makes once it has read the file
 * (vrrp_complete_init(), vrrp.c): required fields, incompatible settings it corrects,
 * sync groups and the interfaces everything names. keepalived prints these without a line;
 * here each names the line of the instance or group.
 */
import { AF_INET, AF_INET6 } from '../../net/addr.js';
import type { DiagnosticList, Loc } from '../diagnostics.js';
import type { HostProbe } from '../host.js';
import type { VrrpDrafts, VrrpInstanceDraft } from '../keywords/vrrp.js';
import type { GlobalDefs, VrrpConfig, VrrpInstance, VrrpScript, VrrpSyncGroup } from '../model.js';

export function validateVrrp(
  d: VrrpDrafts,
  global: GlobalDefs,
  host: HostProbe,
  diags: DiagnosticList,
): VrrpConfig {
  const warn = (loc: Loc, m: string) => diags.warning(loc, m, 'check');
  const fail = (loc: Loc, m: string) => diags.error(loc, m, 'check');
  const ifaces = host.interfaces();
  const instances: VrrpInstance[] = [];

  for (const v of d.instances) {
    if (v.vrid === undefined) {
      fail(v.loc, `(${v.name}) the virtual router id must be set`);
      continue;
    }
    let state = v.state ?? 'BACKUP';
    let iface = v.interface;
    if (iface === undefined && v.peers.length === 0) {
      iface = global.defaultInterface ?? 'eth0';
      if (ifaces !== null && !ifaces.has(iface) && !global.dynamicInterfaces) {
        d.missingInterface = true;
        fail(v.loc, `(${v.name}) Unknown interface!`);
      }
    }
    const family = v.family ?? AF_INET;
    let version = v.version ?? global.vrrp.version;
    if (family === AF_INET6 && version === 2) {
      if (v.version === 2)
        warn(v.loc, `(${v.name}) cannot use IPv6 with VRRP version 2; setting version 3`);
      version = 3;
    }
    if (v.vips.length === 0) warn(v.loc, `(${v.name}) No VIP specified; at least one is sensible`);
    if (v.priority === 255 && state !== 'MASTER') {
      warn(v.loc, `(${v.name}) State MASTER must match being address owner`);
      state = 'MASTER';
    }
    let auth = v.auth;
    if (auth) {
      if (version === 3) {
        warn(v.loc, `(${v.name}) VRRP version 3 does not support authentication. Ignoring.`);
        auth = undefined;
      } else if (auth.password === undefined) {
        warn(v.loc, `(${v.name}) Authentication specified but no password given. Ignoring`);
        auth = undefined;
      } else if (auth.type === 'AH' && family === AF_INET6) {
        warn(v.loc, `(${v.name}) Cannot use AH authentication with IPv6. ignoring`);
        auth = undefined;
      } else if (auth.type === 'AH' && state === 'MASTER') {
        warn(
          v.loc,
          `(${v.name}) Initial state master is incompatible with AH authentication - clearing`,
        );
        state = 'BACKUP';
      }
    }
    let nopreempt = v.nopreempt;
    let preemptDelay = v.preemptDelay;
    if (nopreempt && v.priority === 255) {
      warn(
        v.loc,
        `(${v.name}) nopreempt is incompatible with priority ${v.priority}. resetting nopreempt`,
      );
      nopreempt = false;
    }
    if (nopreempt && state === 'MASTER') {
      warn(
        v.loc,
        `(${v.name}) Warning - nopreempt will not work with initial state MASTER - clearing`,
      );
      nopreempt = false;
    }
    if (preemptDelay && state === 'MASTER') {
      warn(
        v.loc,
        `(${v.name}) Warning - preempt delay will not work with initial state MASTER - clearing`,
      );
      preemptDelay = 0;
    }
    if (preemptDelay && nopreempt) {
      warn(v.loc, `(${v.name}) preempt_delay is incompatible with nopreempt mode - resetting`);
      preemptDelay = 0;
    }
    let advertInt = v.advertInt;
    if (version === 2 && !Number.isInteger(advertInt)) {
      warn(
        v.loc,
        `(${v.name}) VRRPv2 advertisement interval ${advertInt.toFixed(6)}s must be an integer. rounding`,
      );
      advertInt = Math.max(1, Math.round(advertInt));
    }
    instances.push(
      buildInstance(v, state, iface, family, version, auth, nopreempt, preemptDelay, advertInt),
    );
  }

  // Duplicate VRIDs on one interface and family cannot work.
  for (let i = 0; i < instances.length; i++) {
    for (let j = i + 1; j < instances.length; j++) {
      const a = instances[i];
      const b = instances[j];
      if (
        a.virtualRouterId === b.virtualRouterId &&
        a.family === b.family &&
        a.interface !== undefined &&
        a.interface === b.interface
      ) {
        fail(
          b.loc,
          `${a.name} and ${b.name} both use VRID ${a.virtualRouterId} with IPv${a.family === AF_INET ? 4 : 6} on interface ${a.interface}`,
        );
      }
    }
  }

  const syncGroups: VrrpSyncGroup[] = [];
  for (const g of d.syncGroups) {
    const members = (g.instances ?? []).filter((name) => {
      if (instances.some((i) => i.name === name)) return true;
      warn(
        g.loc,
        `Virtual router ${name} specified in sync group ${g.name} doesn't exist - ignoring`,
      );
      return false;
    });
    if (members.length === 0) {
      warn(g.loc, `Sync group ${g.name} has no virtual router(s). removing`);
      continue;
    }
    syncGroups.push({
      name: g.name,
      instances: members,
      trackInterfaces: g.trackInterfaces,
      trackScripts: g.trackScripts,
      trackFiles: g.trackFiles,
      notify: { ...g.notify },
      ...(g.smtpAlert !== undefined ? { smtpAlert: g.smtpAlert } : {}),
      loc: g.loc,
    });
  }

  const sync = global.lvsSyncDaemon;
  if (sync?.vrrpInstance !== undefined && !instances.some((i) => i.name === sync.vrrpInstance)) {
    warn(
      sync.loc,
      `Unable to find vrrp instance ${sync.vrrpInstance} for lvs_syncd - clearing lvs_syncd config`,
    );
  }

  if (d.missingInterface && !global.dynamicInterfaces) {
    fail(
      d.instances[0]?.loc ??
        d.staticIpaddress[0]?.loc ??
        d.staticRoutes[0]?.loc ?? { file: '', line: 0 },
      'Non-existent interface specified in configuration',
    );
  }

  const scripts: VrrpScript[] = d.scripts
    .filter((s) => s.script !== undefined)
    .map((s) => ({
      name: s.name,
      script:
        s.user !== undefined
          ? { ...s.script!, user: s.user, ...(s.group ? { group: s.group } : {}) }
          : s.script!,
      interval: s.interval,
      timeout: s.timeout ?? s.interval,
      weight: s.weight,
      weightReverse: s.weightReverse,
      rise: s.rise,
      fall: s.fall,
      initFail: s.initFail,
      loc: s.loc,
    }));

  return {
    instances,
    syncGroups,
    scripts,
    staticIpaddress: d.staticIpaddress,
    staticRoutes: d.staticRoutes,
    staticRules: d.staticRules,
    other: d.other,
  };
}

function buildInstance(
  v: VrrpInstanceDraft,
  state: 'MASTER' | 'BACKUP',
  iface: string | undefined,
  family: typeof AF_INET | typeof AF_INET6,
  version: 2 | 3,
  auth: VrrpInstanceDraft['auth'],
  nopreempt: boolean,
  preemptDelay: number,
  advertInt: number,
): VrrpInstance {
  return {
    name: v.name,
    state,
    ...(iface !== undefined ? { interface: iface } : {}),
    virtualRouterId: v.vrid ?? 0,
    priority: v.priority,
    advertInt,
    version,
    family,
    nopreempt,
    preemptDelay,
    ...(auth?.type !== undefined
      ? {
          authentication: {
            type: auth.type,
            ...(auth.password !== undefined ? { password: auth.password } : {}),
          },
        }
      : {}),
    virtualIpaddress: v.vips,
    virtualIpaddressExcluded: v.evips,
    virtualRoutes: v.routes,
    virtualRules: v.rules,
    ...(v.unicastSrc ? { unicastSrcIp: v.unicastSrc } : {}),
    unicastPeers: v.peers,
    trackInterfaces: v.trackInterfaces,
    trackScripts: v.trackScripts,
    trackFiles: v.trackFiles,
    notify: { ...v.notify },
    ...(v.smtpAlert !== undefined ? { smtpAlert: v.smtpAlert } : {}),
    ...(v.useVmac !== undefined ? { useVmac: v.useVmac } : {}),
    keywords: v.keywords,
    loc: v.loc,
  };
}
