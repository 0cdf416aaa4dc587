/** One line naming the decisions the pipeline took for its last frame (traces, replay comments). */
import { stateName } from '../ipvs/proto.js';
import { FWD_DROUTE, FWD_LOCAL, FWD_MASQ, FWD_TUNNEL } from '../ipvs/types.js';
import { formatAddrPort } from '../net/addr.js';
import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from '../net/ipproto.js';
import type { Director } from './director-parts.js';
import { OUTCOME_NAMES, OUTCOME_VERDICT, VERDICT_NAMES } from './outcome.js';
import { DIR_ICMP_IN, DIR_ICMP_OUT, DIR_IN, DIR_OUT } from './pipeline.js';

const PROTO_NAMES: Record<number, string> = {
  [IPPROTO_TCP]: 'TCP',
  [IPPROTO_UDP]: 'UDP',
  [IPPROTO_SCTP]: 'SCTP',
  [IPPROTO_ICMP]: 'ICMP',
  [IPPROTO_ICMPV6]: 'ICMPv6',
};
const FWD_NAMES: Record<number, string> = {
  [FWD_MASQ]: 'Masq',
  [FWD_LOCAL]: 'Local',
  [FWD_TUNNEL]: 'Tunnel',
  [FWD_DROUTE]: 'Route',
};

/** The decisions the pipeline took for its last frame, as one line. */
export function describeLast(d: Director): string {
  const p = d.pipeline;
  const core = d.core;
  const ct = core.ct;
  const parts: string[] = [];
  const c = p.tConn;
  if (c >= 0) {
    const proto = PROTO_NAMES[ct.proto(c)] ?? String(ct.proto(c));
    const dest = core.destById(core.destOf(c));
    const svc = dest?.svc ?? null;
    if (svc !== null) {
      const name =
        svc.fwmark !== 0 ? `FWM ${svc.fwmark}` : `${proto} ${formatAddrPort(svc.addr, svc.port)}`;
      parts.push(`service ${name} ${svc.scheduler.name}`);
    }
    const client = formatAddrPort(ct.caddr(c), ct.cport(c));
    const real = `${formatAddrPort(ct.daddr(c), ct.dport(c))} ${FWD_NAMES[core.fwdOf(c)]}`;
    if (p.tDir === DIR_IN) parts.push(`${p.tNew ? 'scheduled' : 'conn'} ${client} -> ${real}`);
    else if (p.tDir === DIR_OUT) parts.push(`reply ${real} -> ${client}`);
    else if (p.tDir === DIR_ICMP_IN) parts.push(`icmp error for ${client} -> ${real}`);
    else if (p.tDir === DIR_ICMP_OUT) parts.push(`icmp error from ${real} for ${client}`);
    parts.push(`state ${stateName(ct.proto(c), ct.state(c))}`);
  }
  const link = p.outLink >= 0 && p.outCount > 0 ? ` on ${d.env.ifaces[p.outLink].name}` : '';
  parts.push(
    `verdict ${VERDICT_NAMES[OUTCOME_VERDICT[p.outcome]]} ${OUTCOME_NAMES[p.outcome]}${link}`,
  );
  return parts.join('; ');
}
