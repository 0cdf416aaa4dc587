/** Public surface of src/pcap: classic pcap and pcapng readers and writers. */
export { type CaptureFormat, detectFormat, openCapture, readCapture } from './capture.js';
export { CaptureFormatError } from './errors.js';
export {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_RAW,
  MAX_CAPLEN,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PcapReader,
  PcapWriter,
  type PcapWriterOptions,
} from './pcap.js';
export {
  BLOCK_EPB,
  BLOCK_IDB,
  BLOCK_PB,
  BLOCK_SHB,
  BLOCK_SPB,
  BYTE_ORDER_MAGIC,
  type PcapngInterface,
  type PcapngInterfaceOptions,
  PcapngReader,
  type PcapngSection,
  PcapngWriter,
  type PcapngWriterOptions,
} from './pcapng.js';
export { type CaptureFrame, type CaptureReaderLike, CaptureRecord } from './record.js';
export { type ByteSink, FdSink, MemorySink, openFileSink } from './sink.js';
export { type TsParts, tsToUnits, U64Words, unitsToTs } from './u64.js';
