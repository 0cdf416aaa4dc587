/**
 * Link factory: picks a backend by name (the `--io` flag of the daemon). All backends
 * implement the contract documented in link.ts.
 */
import { AfPacketLink, type AfPacketOptions } from './afpacket.js';
import type { Link } from './link.js';
import { PcapLink, type PcapOptions } from './pcap.js';
import { TunTapLink, type TunTapOptions } from './tuntap.js';

export * from './afpacket.js';
export * from './link.js';
export * from './memory.js';
export * from './pcap.js';
export * from './tuntap.js';

export type Backend = 'afpacket' | 'tap' | 'tun' | 'pcap';

export const BACKENDS: readonly Backend[] = ['afpacket', 'tap', 'tun', 'pcap'];

export type OpenLinkOptions =
  | ({ backend: 'afpacket'; name: string } & AfPacketOptions)
  | ({ backend: 'tap' | 'tun'; name?: string } & Omit<TunTapOptions, 'mode' | 'name'>)
  | ({ backend: 'pcap'; name: string } & PcapOptions);

/** Opens a link on interface `name` with the chosen backend. */
export function openLink(o: OpenLinkOptions): Link {
  switch (o.backend) {
    case 'afpacket':
      return new AfPacketLink(o.name, o);
    case 'tap':
    case 'tun':
      return new TunTapLink({ ...o, mode: o.backend });
    case 'pcap':
      return new PcapLink(o.name, o);
    default:
      throw new Error(
        `unknown I/O backend '${(o as { backend: string }).backend}' (one of ${BACKENDS.join(', ')})`,
      );
  }
}
