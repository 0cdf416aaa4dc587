/*
 * udpgen: a one-core 64-byte UDP load generator. Builds `flows` Ethernet frames up front
 * (60 bytes on the wire, 64 with the FCS; 18-byte payload), one per source port, cycling
 * over the destination addresses, and writes them to an AF_PACKET socket with sendmmsg in
 * batches, bypassing the qdisc (PACKET_QDISC_BYPASS), so the kernel's UDP socket layer is
 * not the bottleneck. Stops by itself after `seconds` or `max` packets, whichever is first.
 *
 * usage: udpgen IFACE DST_MAC SRC_IP DST_IP[,DST_IP...] DST_PORT FLOWS SECONDS MAX
 * prints one JSON line: {"sent":N,"failed":N,"seconds":S,"pps":R}
 *
 * IPv6 addresses (SRC_IP with a colon) make IPv6 frames: the smallest UDP frame over
 * IPv6 is 62 bytes, so they are 64 bytes (68 with the FCS) with a 2-byte payload.
 */
#define _GNU_SOURCE
#include "common.h"

#define FRAME_LEN4 60
#define FRAME_LEN6 64

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: udpgen IFACE DST_MAC SRC_IP DST_IP[,...] DST_PORT FLOWS SECONDS MAX\n");
    return 2;
  }
  uint8_t smac[6], dmac[6];
  int ifindex = if_lookup(argv[1], smac);
  parse_mac_arg(argv[2], dmac);
  int v6 = strchr(argv[3], ':') != NULL;
  const int frame_len = v6 ? FRAME_LEN6 : FRAME_LEN4;
  struct in_addr sip;
  struct in6_addr sip6;
  if (v6 ? inet_pton(AF_INET6, argv[3], &sip6) != 1 : inet_pton(AF_INET, argv[3], &sip) != 1)
    return 2;
  uint32_t dips[64];
  struct in6_addr dips6[64];
  int ndip = 0;
  char *list = strdup(argv[4]);
  for (char *t = strtok(list, ","); t && ndip < 64; t = strtok(NULL, ",")) {
    if (v6) {
      if (inet_pton(AF_INET6, t, &dips6[ndip]) != 1) return 2;
      ndip++;
      continue;
    }
    struct in_addr a;
    if (inet_pton(AF_INET, t, &a) != 1) return 2;
    dips[ndip++] = ntohl(a.s_addr);
  }
  int dport = atoi(argv[5]);
  int flows = atoi(argv[6]);
  double seconds = atof(argv[7]);
  long long max = atoll(argv[8]);
  if (flows < 1 || flows > 60000 || ndip == 0 || seconds <= 0 || seconds > 600 || max <= 0) {
    fprintf(stderr, "udpgen: bad arguments (flows 1..60000, seconds 0..600, max > 0)\n");
    return 2;
  }

  uint8_t *frames = calloc((size_t)flows, frame_len);
  for (int f = 0; f < flows && v6; f++) {
    uint8_t *p = frames + (size_t)f * frame_len;
    eth_header(p, dmac, smac, 0x86dd);
    uint8_t *ip = p + 14;
    uint16_t ulen = frame_len - 14 - 40;
    ip[0] = 0x60;
    wr16(ip + 4, ulen);
    ip[6] = 17;
    ip[7] = 64;
    memcpy(ip + 8, &sip6, 16);
    memcpy(ip + 24, &dips6[f % ndip], 16);
    uint8_t *udp = ip + 40;
    wr16(udp, (uint16_t)(10000 + f));
    wr16(udp + 2, (uint16_t)dport);
    wr16(udp + 4, ulen);
    memcpy(udp + 8, "u6", 2);
    udp_set_csum(udp, ip + 8, 32, ulen);
  }
  for (int f = 0; f < flows && !v6; f++) {
    uint8_t *p = frames + (size_t)f * frame_len;
    eth_header(p, dmac, smac, 0x0800);
    uint8_t *ip = p + 14;
    uint32_t src = ntohl(sip.s_addr), dst = dips[f % ndip];
    ip[0] = 0x45;
    wr16(ip + 2, frame_len - 14);
    wr16(ip + 4, (uint16_t)f);
    ip[8] = 64;
    ip[9] = 17;
    wr32(ip + 12, src);
    wr32(ip + 16, dst);
    ip4_set_csum(ip);
    uint8_t *udp = ip + 20;
    uint16_t ulen = frame_len - 14 - 20;
    wr16(udp, (uint16_t)(10000 + f));
    wr16(udp + 2, (uint16_t)dport);
    wr16(udp + 4, ulen);
    memcpy(udp + 8, "uvs-bench-64B-udp!", 18);
    udp_set_csum(udp, ip + 12, 8, ulen);
  }

  int fd = tx_packet_socket(ifindex);
  struct tx_batch batch;
  tx_batch_init(&batch, ifindex, dmac, (size_t)frame_len);

  long long sent = 0, failed = 0;
  int next = 0;
  double t0 = now_s(), end = t0 + seconds, t = t0;
  unsigned iter = 0;
  while (sent < max) {
    int n = TX_BATCH;
    if (max - sent < n) n = (int)(max - sent);
    for (int i = 0; i < n; i++) {
      batch.iov[i].iov_base = frames + (size_t)next * frame_len;
      if (++next == flows) next = 0;
    }
    tx_batch_send(fd, &batch, n, &sent, &failed);
    if ((++iter & 15) == 0) {
      t = now_s();
      if (t >= end) break;
    }
  }
  t = now_s();
  printf("{\"sent\":%lld,\"failed\":%lld,\"seconds\":%.6f,\"pps\":%.0f}\n", sent, failed, t - t0,
         (double)sent / (t - t0));
  return 0;
}
