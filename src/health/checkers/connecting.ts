/**
 * What every checker that connects to the real server has: the address and port it
 * connects to (connect_ip/connect_port, else the real server's) and keepalived's FMT_CHK
 * name for them, "[198.18.1.12]:tcp:8080", which its log lines carry.
 */
import { formatCheckTrio } from '../log-format.js';
import { type CheckTarget, type ConnectOptions, checkDestination } from '../spec.js';

export abstract class ConnectingChecker {
  protected readonly dest: ReturnType<typeof checkDestination>;
  readonly label: string;

  constructor(target: CheckTarget, connect: ConnectOptions) {
    this.dest = checkDestination(target, connect);
    this.label = formatCheckTrio(target, connect);
  }
}
