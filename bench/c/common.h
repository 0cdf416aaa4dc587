/* Shared helpers for the bench's C tools: AF_PACKET sockets, interface lookup, checksums. */
#ifndef UVSB_COMMON_H
#define UVSB_COMMON_H
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(1);
}

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ifindex and MAC of `name` in this namespace. */
static inline int if_lookup(const char *name, uint8_t mac[6]) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) die(name);
  int idx = ifr.ifr_ifindex;
  if (mac) {
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) die(name);
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  }
  close(fd);
  return idx;
}

static inline int parse_mac(const char *s, uint8_t mac[6]) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) mac[i] = (uint8_t)v[i];
  return 0;
}

/* AF_PACKET socket bound to ifindex for every protocol. */
static inline int packet_socket(int ifindex) {
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) die("socket(AF_PACKET)");
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind(AF_PACKET)");
  return fd;
}

/* Exits 2 (bad usage) unless `s` is a MAC address. */
static inline void parse_mac_arg(const char *s, uint8_t mac[6]) {
  if (parse_mac(s, mac) < 0) {
    fprintf(stderr, "bad mac %s\n", s);
    exit(2);
  }
}

/*
 * A load generator's sending socket: AF_PACKET on ifindex, bypassing the qdisc (frames go
 * straight to the driver) with a 4 MB send buffer, so what it measures is the receiver,
 * not the sender's own queueing layer.
 */
static inline int tx_packet_socket(int ifindex) {
  int fd = packet_socket(ifindex);
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0)
    perror("PACKET_QDISC_BYPASS (continuing)");
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
  return fd;
}

/* Frames a generator hands to one sendmmsg call: one iovec each, all to one MAC. */
#define TX_BATCH 64
struct tx_batch {
  struct mmsghdr msgs[TX_BATCH];
  struct iovec iov[TX_BATCH];
  struct sockaddr_ll to;
};

/* Every slot `frame_len` long and addressed to `dmac` on ifindex; the caller sets iov_base. */
static inline void tx_batch_init(struct tx_batch *b, int ifindex, const uint8_t dmac[6],
                                 size_t frame_len) {
  memset(b, 0, sizeof *b);
  b->to.sll_family = AF_PACKET;
  b->to.sll_ifindex = ifindex;
  b->to.sll_halen = 6;
  memcpy(b->to.sll_addr, dmac, 6);
  for (int i = 0; i < TX_BATCH; i++) {
    b->iov[i].iov_len = frame_len;
    b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
    b->msgs[i].msg_hdr.msg_iovlen = 1;
    b->msgs[i].msg_hdr.msg_name = &b->to;
    b->msgs[i].msg_hdr.msg_namelen = sizeof b->to;
  }
}

/*
 * Sends the batch's first n frames and adds them to *sent or *failed. A full ring or socket
 * buffer (ENOBUFS, EAGAIN) or a signal only fails this batch: a generator at full speed
 * meets them all the time. Anything else ends the program.
 */
static inline void tx_batch_send(int fd, struct tx_batch *b, int n, long long *sent,
                                 long long *failed) {
  int r = sendmmsg(fd, b->msgs, (unsigned)n, 0);
  if (r < 0) {
    *failed += n;
    if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) die("sendmmsg");
  } else {
    *sent += r;
    *failed += n - r;
  }
}

/* Ones' complement sum helpers (RFC 1071) and incremental update (RFC 1624 eq. 3). */
static inline uint32_t csum_add(uint32_t sum, const void *data, size_t len) {
  const uint8_t *p = data;
  while (len > 1) {
    sum += (uint32_t)(p[0] << 8 | p[1]);
    p += 2;
    len -= 2;
  }
  if (len) sum += (uint32_t)(p[0] << 8);
  return sum;
}
static inline uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}
/* New checksum (host order) after a 32-bit field changed from `from` to `to` (host order). */
static inline uint16_t csum_replace4(uint16_t check, uint32_t from, uint32_t to) {
  uint32_t sum = (uint16_t)~check;
  sum += (uint16_t)~(from >> 16) + (uint16_t)~(from & 0xffff);
  sum += (to >> 16) + (to & 0xffff);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}
static inline uint16_t csum_replace2(uint16_t check, uint16_t from, uint16_t to) {
  uint32_t sum = (uint16_t)~check;
  sum += (uint16_t)~from;
  sum += to;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}
static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
/* Destination and source MAC and EtherType: a frame's first 14 bytes. */
static inline void eth_header(uint8_t *p, const uint8_t dmac[6], const uint8_t smac[6],
                              uint16_t type) {
  memcpy(p, dmac, 6);
  memcpy(p + 6, smac, 6);
  wr16(p + 12, type);
}

/* An IPv4 header's checksum, over its 20 bytes (no options). */
static inline void ip4_set_csum(uint8_t *ip) {
  wr16(ip + 10, 0);
  wr16(ip + 10, csum_fold(csum_add(0, ip, 20)));
}

/*
 * The checksum of a TCP or UDP segment of `len` bytes: the pseudo header is the IP header's
 * source and destination addresses (`addrs`: 8 bytes for IPv4 at ip + 12, 32 for IPv6 at
 * ip + 8), the protocol and the length; the checksum field must be zero.
 */
static inline uint16_t l4_csum(const uint8_t *addrs, size_t addrs_len, uint8_t proto,
                               const uint8_t *l4, uint16_t len) {
  uint32_t s = csum_add(0, addrs, addrs_len);
  s += proto + len;
  return csum_fold(csum_add(s, l4, len));
}

static inline void tcp_set_csum(uint8_t *tcp, const uint8_t *addrs, size_t addrs_len,
                                uint16_t len) {
  wr16(tcp + 16, 0);
  wr16(tcp + 16, l4_csum(addrs, addrs_len, 6, tcp, len));
}

/* UDP sends a computed 0 as 0xffff: 0 on the wire means "no checksum" (RFC 768). */
static inline void udp_set_csum(uint8_t *udp, const uint8_t *addrs, size_t addrs_len,
                                uint16_t len) {
  wr16(udp + 6, 0);
  uint16_t c = l4_csum(addrs, addrs_len, 17, udp, len);
  wr16(udp + 6, c ? c : 0xffff);
}
#endif
