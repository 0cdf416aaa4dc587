/**
 * `--announce DEV[=VIP[,VIP...]]`: which announce device follows which VIPs.
 *
 * A group is one network device (announce-link.ts) and the VIPs whose quorum it follows:
 * the device is up while every service on those VIPs has quorum; with no VIP list it
 * follows every service in the table. The routing daemon announces what the device's state
 * says (BIRD: `route VIP/32 via "DEV"` in a static protocol), so a director that carries
 * several VIPs and must be able to withdraw them one by one uses one device per VIP.
 */
import { InetAddr } from '../net/addr.js';

export interface AnnounceGroup {
  /** The device uvs creates and keeps up while the group has quorum. */
  dev: string;
  /** The VIPs whose services decide; null = every service in the table. */
  vips: InetAddr[] | null;
}

/** Linux interface names: 1-15 bytes; we keep to a portable, shell-safe subset. */
const DEV_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

/** Parses one `--announce` value; throws an Error that says what is wrong. */
export function parseAnnounceSpec(text: string): AnnounceGroup {
  const eq = text.indexOf('=');
  const dev = eq < 0 ? text : text.slice(0, eq);
  if (!DEV_NAME.test(dev)) {
    throw new Error(
      `--announce: bad device name '${dev}' (1-15 of A-Z a-z 0-9 _ . -, not starting with . or -)`,
    );
  }
  if (eq < 0) return { dev, vips: null };
  const list = text.slice(eq + 1);
  if (list === '') throw new Error(`--announce ${dev}=: the VIP list is empty`);
  const vips: InetAddr[] = [];
  for (const item of list.split(',')) {
    const a = InetAddr.parse(item);
    if (a === null) throw new Error(`--announce ${dev}: bad VIP '${item}'`);
    if (!a.isV4) throw new Error(`--announce ${dev}: ${item}: uvs serves IPv4 VIPs only for now`);
    if (vips.some((v) => v.equals(a))) throw new Error(`--announce ${dev}: VIP ${item} twice`);
    vips.push(a);
  }
  return { dev, vips };
}

/** Checks a whole set of groups: every device once. */
export function checkAnnounceGroups(groups: readonly AnnounceGroup[]): void {
  const seen = new Set<string>();
  for (const g of groups) {
    if (seen.has(g.dev)) throw new Error(`--announce: device '${g.dev}' given twice`);
    seen.add(g.dev);
  }
}
