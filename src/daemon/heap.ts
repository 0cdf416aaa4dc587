/**
 * The daemon's heap. A forwarding director allocates nothing per packet; its JavaScript heap
 * holds the configuration and little else. Bursts of control-plane work (a listing of a
 * million connections, a large restore) allocate a lot of short-lived objects, and V8 then
 * grows the young generation (the semi-spaces, from 1 MiB up to 16 MiB each) and keeps it
 * grown: the process would end tens of megabytes larger than it started, for good.
 * A growth factor of 1 keeps the semi-spaces at their starting size; the work then runs in
 * more, smaller scavenges, which also keeps each collection pause short for the datapath.
 *
 * The same bursts promote a little to the old generation, and a full collection follows.
 * Its marking runs concurrently, but when it is finalised from running JavaScript (a stack
 * guard, the usual case in a busy loop) V8 may also compact: evacuating pages and updating
 * every pointer into them in one pause, 5-10 ms of the 7-12 ms a full collection held the
 * packet loop for during a million-entry listing (bench/micro/listing-gap.ts). Without
 * compaction on that path the pause is the atomic marking's 1-2 ms; V8 still compacts in
 * full collections finalised without a stack (its idle and memory-reducing tasks), so a
 * heap this small does not fragment for good.
 *
 * V8 reads these flags whenever it needs them, so they can be set at run time, for every
 * thread of the process.
 */
import { setFlagsFromString } from 'node:v8';

export function tuneHeapForForwarding(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--no-compact-with-stack');
}
