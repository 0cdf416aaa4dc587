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
#endif
