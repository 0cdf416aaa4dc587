/**
 * Per-protocol connection state: the TCP state machine and timeouts of
 * net/netfilter/ipvs/ip_vs_proto_tcp.c, the single UDP state of ip_vs_proto_udp.c, and the
 * connection flag bits of include/uapi/linux/ip_vs.h (IP_VS_CONN_F_*).
 *
 * States are small integers stored in a Uint8Array per connection; transitions are lookups
 * in one flat Uint8Array (no objects on the hot path).
 */
import { IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ipproto.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../net/tcp.js';

/* ---- connection flags (IP_VS_CONN_F_*), same values as the kernel ---- */
export const CONN_F_FWD_MASK = 0x0007;
export const CONN_F_MASQ = 0x0000;
export const CONN_F_LOCALNODE = 0x0001;
export const CONN_F_TUNNEL = 0x0002;
export const CONN_F_DROUTE = 0x0003;
/** Created from a sync message (ip_vs_proc_conn). */
export const CONN_F_SYNC = 0x0020;
export const CONN_F_HASHED = 0x0040;
/** The director has not seen a reply yet: DR/TUN/LOCAL (cleared by the first OUTPUT packet). */
export const CONN_F_NOOUTPUT = 0x0080;
/** Counted in dest.inactConns rather than dest.activeConns. */
export const CONN_F_INACTIVE = 0x0100;
/** TCP sequence adjustment in either direction (uvs never sets them; sync carries them). */
export const CONN_F_SEQ_MASK = 0x0600;
export const CONN_F_NO_CPORT = 0x0800;
export const CONN_F_TEMPLATE = 0x1000;
export const CONN_F_ONE_PACKET = 0x2000;
/** uvs-internal: the slot holds a live entry (not a kernel flag; the kernel has no slots). */
export const CONN_F_LIVE = 0x8000;

/* ---- TCP states (IP_VS_TCP_S_*) ---- */
export const TCP_S_NONE = 0;
export const TCP_S_ESTABLISHED = 1;
export const TCP_S_SYN_SENT = 2;
export const TCP_S_SYN_RECV = 3;
export const TCP_S_FIN_WAIT = 4;
export const TCP_S_TIME_WAIT = 5;
export const TCP_S_CLOSE = 6;
export const TCP_S_CLOSE_WAIT = 7;
export const TCP_S_LAST_ACK = 8;
export const TCP_S_LISTEN = 9;
export const TCP_S_SYNACK = 10;
export const TCP_S_LAST = 11;

/** Names as ipvsadm -L -c prints them (tcp_state_name_table). */
export const TCP_STATE_NAMES: readonly string[] = [
  'NONE',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'SYNACK',
];

/** Default TCP timeouts in seconds (tcp_timeouts[]). */
export const TCP_DEFAULT_TIMEOUTS_S: readonly number[] = [
  2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120,
];

/** UDP has one state, IP_VS_UDP_S_NORMAL, named "UDP", 5 minutes (udp_timeouts[]). */
export const UDP_S_NORMAL = 0;
export const UDP_DEFAULT_TIMEOUT_S = 300;

/**
 * tcp_state_active_table: which states count in dest.activeConns. Since Linux 4.3
 * ("ipvs: count pre-established TCP states as active") SYN_SENT, SYN_RECV and SYNACK count
 * as active alongside ESTABLISHED.
 */
export const TCP_STATE_ACTIVE = new Uint8Array([0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1]);

/** Row offsets into TCP_STATES, as tcp_state_off[] (TCP_DIR_INPUT/OUTPUT/INPUT_ONLY). */
export const TCP_DIR_INPUT = 0;
export const TCP_DIR_OUTPUT = 4;
export const TCP_DIR_INPUT_ONLY = 8;

// Short names so the table below reads like the kernel's.
// No transition ever leads back to NONE (sNO), so it has no short name here.
const sES = TCP_S_ESTABLISHED;
const sSS = TCP_S_SYN_SENT;
const sSR = TCP_S_SYN_RECV;
const sFW = TCP_S_FIN_WAIT;
const sTW = TCP_S_TIME_WAIT;
const sCL = TCP_S_CLOSE;
const sCW = TCP_S_CLOSE_WAIT;
const sLA = TCP_S_LAST_ACK;
const sLI = TCP_S_LISTEN;
// SYNACK (sSA) is only a target in tcp_states_dos (secure_tcp).
const sSA = TCP_S_SYNACK;

/**
 * tcp_states[] (secure_tcp off), 12 rows x 11 columns: row = direction offset + event
 * (0 syn, 1 fin, 2 ack, 3 rst), column = current state, value = next state.
 * Index: (row * TCP_S_LAST) + state.
 */
// biome-ignore format: keep the kernel's table layout
export const TCP_STATES = new Uint8Array([
  /* INPUT        sNO  sES  sSS  sSR  sFW  sTW  sCL  sCW  sLA  sLI  sSA */
  /* syn */       sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR,
  /* fin */       sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW,
  /* ack */       sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
  /* rst */       sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR,
  /* OUTPUT */
  /* syn */       sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR,
  /* fin */       sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW,
  /* ack */       sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES,
  /* rst */       sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL,
  /* INPUT_ONLY */
  /* syn */       sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR,
  /* fin */       sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW,
  /* ack */       sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
  /* rst */       sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL,
]);

/**
 * tcp_states_dos[], the table the secure_tcp defence switches to (ip_vs_proto_tcp.c,
 * tcp_timeout_change): a client's ACK no longer establishes a NAT entry on its own (INPUT
 * ack leaves SYN_RECV as it is); the entry waits in SYN_RECV, then SYNACK once the real
 * server's SYN-ACK passed, and only the server's next segment makes it ESTABLISHED. Without
 * replies (DR/TUN) a SYN leads to SYNACK. Same layout as TCP_STATES.
 */
// biome-ignore format: keep the kernel's table layout
export const TCP_STATES_DOS = new Uint8Array([
  /* INPUT        sNO  sES  sSS  sSR  sFW  sTW  sCL  sCW  sLA  sLI  sSA */
  /* syn */       sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSA,
  /* fin */       sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sSA,
  /* ack */       sES, sES, sSS, sSR, sFW, sTW, sCL, sCW, sCL, sLI, sSA,
  /* rst */       sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL,
  /* OUTPUT */
  /* syn */       sSS, sES, sSS, sSA, sSS, sSS, sSS, sSS, sSS, sLI, sSA,
  /* fin */       sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW,
  /* ack */       sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES,
  /* rst */       sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL,
  /* INPUT_ONLY */
  /* syn */       sSA, sES, sES, sSR, sSA, sSA, sSA, sSA, sSA, sSA, sSA,
  /* fin */       sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW,
  /* ack */       sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
  /* rst */       sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL,
]);

/**
 * Embryonic TCP states: a client sent a SYN and the handshake has not completed. These are
 * the entries ip_vs_random_dropentry drops without further checks (SYN_RECV, SYNACK), and
 * the ones a new connection may displace when the table is full.
 */
export const TCP_STATE_EMBRYONIC = new Uint8Array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]);

/**
 * Persistence template states (IP_VS_CTPL_S_*): a template turns ASSURED when one of its
 * connections gets established (TCP) or sees a reply (UDP): ip_vs_control_assure_ct. The
 * drop_entry defence drops childless templates that never got there.
 */
export const CTPL_S_NONE = 0;
export const CTPL_S_ASSURED = 1;

/**
 * tcp_state_idx: which event row a segment selects. RST wins over SYN, SYN over FIN, FIN over
 * ACK; a segment with none of them returns -1 and set_tcp_state then moves to CLOSE.
 */
export function tcpStateIdx(flags: number): number {
  if (flags & TCP_RST) return 3;
  if (flags & TCP_SYN) return 0;
  if (flags & TCP_FIN) return 1;
  if (flags & TCP_ACK) return 2;
  return -1;
}

/**
 * The next TCP state, exactly set_tcp_state's lookup (without the accounting), in `table`
 * (TCP_STATES, or TCP_STATES_DOS while secure_tcp is on).
 */
export function tcpNextState(
  stateOff: number,
  flags: number,
  state: number,
  table: Uint8Array = TCP_STATES,
): number {
  const idx = tcpStateIdx(flags);
  if (idx < 0) return TCP_S_CLOSE;
  return table[(stateOff + idx) * TCP_S_LAST + state];
}

/**
 * ip_vs_state_name for an entry of protocol `proto` in `state`; a persistence template
 * (`template`) is NONE or ASSURED (ip_vs_ctpl_state_name_table).
 */
export function stateName(proto: number, state: number, template = false): string {
  if (template) return state === CTPL_S_ASSURED ? 'ASSURED' : state === 0 ? 'NONE' : 'ERR!';
  if (proto === IPPROTO_TCP) return state < TCP_S_LAST ? TCP_STATE_NAMES[state] : 'ERR!';
  if (proto === IPPROTO_UDP) return state === UDP_S_NORMAL ? 'UDP' : 'ERR!';
  // IPPROTO_IP: fwmark persistence templates (ip_vs_state_name's "NONE" fallback).
  if (proto === IPPROTO_IP) return 'NONE';
  return 'ERR!';
}
