/**
 * A replay test's input capture: frames in a classic pcap held in memory, one a second
 * from a fixed epoch, so replays (and their output) are the same from run to run.
 */
import { PcapWriter } from '../../src/pcap/pcap.js';
import { MemorySink } from '../../src/pcap/sink.js';

/** The bytes of a pcap holding `frames` in order, frame i at 1_700_000_000 + i s. */
export function pcapOf(frames: Uint8Array[]): Uint8Array {
  const sink = new MemorySink();
  const w = new PcapWriter(sink);
  for (const [i, f] of frames.entries()) w.writePacket(f, 0, f.length, 1_700_000_000 + i, 0);
  w.close();
  return sink.toBytes();
}
