/**
 * The daemon's heap. A forwarding director allocates nothing per packet; its JavaScript heap
 * holds the configuration and little else. Bursts of control-plane work (a listing of a
 * million connections, a large restore) allocate a lot of short-lived objects, and V8 then
 * grows the young generation (the semi-spaces, from 1 MiB up to 16 MiB each) and keeps it
 * grown: the process would end tens of megabytes larger than it started, for good.
 * A growth factor of 1 keeps the semi-spaces at their starting size; the work then runs in
 * more, smaller scavenges, which also keeps each collection pause short for the datapath.
 * V8 reads this flag whenever it would grow the young generation, so it can be set at run
 * time, for every thread of the process.
 */
import { setFlagsFromString } from 'node:v8';

export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
