/*
 * synflood: TCP SYNs from spoofed sources, as a SYN flood sends them, on one core. Every
 * SYN has a source (address, port) of its own — source address i % hosts inside SRC_NET,
 * port 1024 + (i / hosts) % 64000, so the first hosts * 64000 SYNs are all distinct flows —
 * and a sequence number from a small PRNG. Frames (60 bytes) go to an AF_PACKET socket with
 * sendmmsg in batches, bypassing the qdisc. RATE 0 sends as fast as the core can; otherwise
 * small batches are paced to RATE SYNs a second. Stops after SECONDS or MAX SYNs, whichever is
 * first. Starting at flow FIRST lets several runs add up without repeating a flow. With -u
 * it sends one UDP datagram per flow instead (a connection entry that lives 300 s).
 *
 * usage: synflood [-u] IFACE DST_MAC SRC_NET/PREFIX DST_IP DST_PORT RATE SECONDS MAX [FIRST]
 * prints one JSON line: {"sent":N,"failed":N,"seconds":S,"pps":R,"next":FIRST+N}
 */
#define _GNU_SOURCE
#include "common.h"

#define FRAME_LEN 60

int main(int argc, char **argv) {
  int udp = argc > 1 && strcmp(argv[1], "-u") == 0;
  if (udp) {
    argv++;
    argc--;
  }
  if (argc != 9 && argc != 10) {
    fprintf(stderr,
            "usage: synflood [-u] IFACE DST_MAC SRC_NET/PREFIX DST_IP DST_PORT RATE SECONDS "
            "MAX [FIRST]\n");
    return 2;
  }
  uint8_t smac[6], dmac[6];
  int ifindex = if_lookup(argv[1], smac);
  parse_mac_arg(argv[2], dmac);
  char *slash = strchr(argv[3], '/');
  if (slash == NULL) {
    fprintf(stderr, "synflood: SRC_NET wants a prefix length (a.b.c.d/n)\n");
    return 2;
  }
  *slash = 0;
  int prefix = atoi(slash + 1);
  struct in_addr net, dip;
  if (inet_pton(AF_INET, argv[3], &net) != 1 || inet_pton(AF_INET, argv[4], &dip) != 1 ||
      prefix < 8 || prefix > 30) {
    fprintf(stderr, "synflood: bad SRC_NET (prefix 8..30) or DST_IP\n");
    return 2;
  }
  uint32_t base = ntohl(net.s_addr) & (0xffffffffu << (32 - prefix));
  /* Hosts of the network, without its network and broadcast addresses. */
  uint32_t hosts = (1u << (32 - prefix)) - 2;
  uint32_t dst = ntohl(dip.s_addr);
  int dport = atoi(argv[5]);
  double rate = atof(argv[6]);
  double seconds = atof(argv[7]);
  long long max = atoll(argv[8]);
  unsigned long long first = argc == 10 ? strtoull(argv[9], NULL, 10) : 0;
  if (dport < 1 || dport > 65535 || rate < 0 || seconds <= 0 || seconds > 600 || max <= 0) {
    fprintf(stderr, "synflood: bad arguments (port 1..65535, rate >= 0, seconds 0..600, max > 0)\n");
    return 2;
  }

  /* One frame per batch slot; each send rewrites source, port, sequence and checksums. */
  uint8_t frames[TX_BATCH][FRAME_LEN];
  memset(frames, 0, sizeof frames);
  for (int b = 0; b < TX_BATCH; b++) {
    uint8_t *p = frames[b];
    eth_header(p, dmac, smac, 0x0800);
    uint8_t *ip = p + 14;
    ip[0] = 0x45;
    wr16(ip + 2, 40);
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = udp ? 17 : 6;
    wr32(ip + 16, dst);
    uint8_t *l4 = ip + 20;
    wr16(l4 + 2, (uint16_t)dport);
    if (udp) {
      wr16(l4 + 4, 20); /* 8-byte header, 12 bytes of payload */
      memcpy(l4 + 8, "uvs-flood-12", 12);
    } else {
      l4[12] = 5 << 4;
      l4[13] = 0x02; /* SYN */
      wr16(l4 + 14, 64240);
    }
  }

  int fd = tx_packet_socket(ifindex);
  struct tx_batch out;
  tx_batch_init(&out, ifindex, dmac, FRAME_LEN);
  for (int i = 0; i < TX_BATCH; i++) out.iov[i].iov_base = frames[i];

  /* Paced runs send small batches, so the SYNs come about every half millisecond or
   * closer, not in bursts. */
  int batch = TX_BATCH;
  if (rate > 0) {
    batch = (int)(rate / 2000);
    if (batch < 1) batch = 1;
    if (batch > TX_BATCH) batch = TX_BATCH;
  }
  long long sent = 0, failed = 0;
  unsigned long long flow = first;
  uint32_t rnd = 0x9e3779b9u ^ (uint32_t)first;
  double t0 = now_s(), end = t0 + seconds, t = t0;
  while (sent + failed < max) {
    int n = batch;
    if (max - sent - failed < n) n = (int)(max - sent - failed);
    for (int i = 0; i < n; i++, flow++) {
      uint8_t *ip = frames[i] + 14;
      uint8_t *tcp = ip + 20;
      uint32_t src = base + 1 + (uint32_t)(flow % hosts);
      uint16_t sport = (uint16_t)(1024 + (flow / hosts) % 64000);
      rnd ^= rnd << 13;
      rnd ^= rnd >> 17;
      rnd ^= rnd << 5;
      wr16(ip + 4, (uint16_t)flow);
      wr32(ip + 12, src);
      ip4_set_csum(ip);
      wr16(tcp, sport);
      if (udp) {
        udp_set_csum(tcp, ip + 12, 8, 20);
      } else {
        wr32(tcp + 4, rnd);
        tcp_set_csum(tcp, ip + 12, 8, 20);
      }
    }
    tx_batch_send(fd, &out, n, &sent, &failed);
    t = now_s();
    if (t >= end) break;
    if (rate > 0) {
      /* Pace: the batch may not run ahead of RATE a second since the start. */
      double due = t0 + (double)(sent + failed) / rate;
      while (t < due && t < end) {
        double gap = due - t;
        if (gap > 0.0002) {
          struct timespec ts = {0, (long)((gap - 0.0001) * 1e9)};
          nanosleep(&ts, NULL);
        }
        t = now_s();
      }
    }
  }
  t = now_s();
  printf("{\"sent\":%lld,\"failed\":%lld,\"seconds\":%.6f,\"pps\":%.0f,\"next\":%llu}\n", sent,
         failed, t - t0, (double)sent / (t - t0), flow);
  return 0;
}
