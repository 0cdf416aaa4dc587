/**
 * The announce device: a TUN device that lives exactly as long as the uvs process.
 *
 * A routing daemon cannot see inside uvs, but it sees network devices. uvs creates a TUN
 * device (not persistent: the kernel deletes it when the last file descriptor to it
 * closes, which happens when the process ends, SIGKILL and crashes included; the
 * descriptor is close-on-exec, so no child process keeps it) and sets it up or down with
 * the quorum. BIRD's static protocol announces `route VIP/32 via "DEV"` only while DEV
 * exists and is up, and withdraws it within milliseconds of a change (netlink link
 * events), so the route follows uvs's life and its quorum with no polling and no helper
 * process that could outlive it. Nothing is routed to the device and nothing is read from
 * it: it carries no packets, only a state.
 */
import { execFile } from 'node:child_process';
import { native } from '../io/native.js';
import { TunTapLink } from '../io/tuntap.js';

/** What the announcer needs of a device (a fake one in unit tests). */
export interface AnnounceLink {
  readonly name: string;
  /** Sets the device administratively up or down. */
  setUp(up: boolean): Promise<void>;
  /** Deletes the device (closing its descriptor). */
  close(): void;
}

export type OpenAnnounceLink = (name: string) => AnnounceLink;

/** How long an `ip link set` may take before the change counts as failed. */
const IP_TIMEOUT_MS = 5000;

/** Opens the TUN announce device `name`, down. Refuses a name that is taken. */
export function openTunAnnounceLink(name: string): AnnounceLink {
  let exists = true;
  try {
    native().ifInfo(name);
  } catch {
    exists = false;
  }
  // Attaching to an existing persistent TUN device would tie the route to a device that
  // outlives us; any other existing device is not ours to toggle.
  if (exists) {
    throw new Error(
      `announce device '${name}' already exists; it must be uvs's own (remove it, or pick another name)`,
    );
  }
  // One small slot: the device is never read.
  const tun = new TunTapLink({ name, mode: 'tun', maxBatch: 1, maxFrame: 2048, headroom: 0 });
  return {
    name: tun.name,
    setUp: (up) => ipLinkSet(tun.name, up),
    close: () => tun.close(),
  };
}

function ipLinkSet(dev: string, up: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['link', 'set', 'dev', dev, up ? 'up' : 'down'],
      { timeout: IP_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (err, _out, stderr) => {
        if (err)
          reject(
            new Error(`ip link set ${dev} ${up ? 'up' : 'down'}: ${stderr.trim() || err.message}`),
          );
        else resolve();
      },
    );
  });
}
