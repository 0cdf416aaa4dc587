/*
 * fwd: the smallest user-space NAT forwarder on the same I/O uvs uses — a TPACKET_V2 mmap'd
 * receive ring per interface, rewritten in place, sent from the ring with sendmmsg and
 * PACKET_QDISC_BYPASS, frames handed back after the batch is sent. It is the ceiling for any
 * user-space datapath on this I/O: no connection table, no scheduler state, no timers.
 *
 * Stateless NAT: a frame from the client interface to VIP gets real server
 * hash(saddr, sport) % N (port 5201, iperf3, always goes to the first), its destination
 * address rewritten, TTL-1, IPv4 and TCP/UDP checksums updated incrementally, new MACs.
 * A frame from real server i's interface with source RIP_i gets source VIP and is sent to
 * the client. Needs complete checksums (interface offloads off) for TCP: it has no
 * virtio_net_hdr, so GSO super-packets would be cut by the ring.
 *
 * usage: fwd SECONDS CLIENT_IF CLIENT_MAC VIP RS_IF,RIP,RS_MAC [RS_IF,RIP,RS_MAC ...]
 * Runs until SIGTERM/SIGINT or SECONDS; prints {"rx":N,"tx":N,"dropped":N,"ringDrops":N} on
 * exit, and on SIGUSR1 (ringDrops: frames the kernel could not put in a full ring,
 * PACKET_STATISTICS, summed since the start).
 * The harness keeps the director's own stack off the forwarded packets with the same kind of
 * netdev ingress drop table uvs installs, so both pay the same kernel cost per frame.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include "common.h"

#define MAXIF 8
#define FRAME_SIZE 2048
#define BLOCK_SIZE (1 << 16)
#define BLOCKS 128
#define FRAMES (BLOCKS * (BLOCK_SIZE / FRAME_SIZE))
#define BATCH 256

struct port {
  int fd, ifindex;
  uint8_t mac[6];
  uint8_t *ring;
  unsigned head;
  uint32_t rip; /* real server's address (0 for the client side) */
  uint8_t peer[6]; /* MAC of the host on the other end */
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_ll to;
  int count;
};

static struct port ports[MAXIF];
static int nports;
static volatile sig_atomic_t stop;
static unsigned long long rx, tx, dropped;

static volatile sig_atomic_t report;
static unsigned long long ring_drops;
static void on_signal(int s) { (void)s; stop = 1; }
static void on_report(int s) { (void)s; report = 1; }

static void open_port(struct port *p, const char *name) {
  p->ifindex = if_lookup(name, p->mac);
  p->fd = packet_socket(p->ifindex);
  int v = TPACKET_V2, one = 1;
  if (setsockopt(p->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) die("PACKET_VERSION");
#ifdef PACKET_IGNORE_OUTGOING
  setsockopt(p->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
#endif
  if (setsockopt(p->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0)
    die("PACKET_QDISC_BYPASS");
  int sndbuf = 4 << 20;
  setsockopt(p->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
  struct tpacket_req req = {.tp_block_size = BLOCK_SIZE,
                            .tp_block_nr = BLOCKS,
                            .tp_frame_size = FRAME_SIZE,
                            .tp_frame_nr = FRAMES};
  if (setsockopt(p->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) die("PACKET_RX_RING");
  p->ring = mmap(NULL, (size_t)BLOCK_SIZE * BLOCKS, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
  if (p->ring == MAP_FAILED) die("mmap");
  memset(&p->to, 0, sizeof p->to);
  p->to.sll_family = AF_PACKET;
  p->to.sll_ifindex = p->ifindex;
  p->to.sll_halen = 6;
  for (int i = 0; i < BATCH; i++) {
    memset(&p->msgs[i], 0, sizeof p->msgs[i]);
    p->msgs[i].msg_hdr.msg_iov = &p->iov[i];
    p->msgs[i].msg_hdr.msg_iovlen = 1;
    p->msgs[i].msg_hdr.msg_name = &p->to;
    p->msgs[i].msg_hdr.msg_namelen = sizeof p->to;
  }
}

static void flush(struct port *p) {
  int off = 0;
  while (off < p->count) {
    int r = sendmmsg(p->fd, p->msgs + off, (unsigned)(p->count - off), 0);
    if (r <= 0) {
      dropped += (unsigned long long)(p->count - off);
      break;
    }
    tx += (unsigned long long)r;
    off += r;
  }
  p->count = 0;
}

/* Rewrites the IPv4 address at ip+at (12 = source, 16 = destination) and fixes checksums. */
static int rewrite(uint8_t *ip, int len, int at, uint32_t to) {
  int ihl = (ip[0] & 15) * 4;
  uint32_t from = rd32(ip + at);
  if (ip[8] <= 1) return -1;
  uint16_t ttlproto = rd16(ip + 8);
  ip[8]--;
  uint16_t c = csum_replace2(rd16(ip + 10), ttlproto, rd16(ip + 8));
  wr32(ip + at, to);
  wr16(ip + 10, csum_replace4(c, from, to));
  if ((rd16(ip + 6) & 0x1fff) != 0) return 0; /* later fragment: no L4 header */
  uint8_t *l4 = ip + ihl;
  if (ip[9] == 6 && len >= ihl + 20) {
    wr16(l4 + 16, csum_replace4(rd16(l4 + 16), from, to));
  } else if (ip[9] == 17 && len >= ihl + 8) {
    uint16_t u = rd16(l4 + 6);
    if (u != 0) {
      u = csum_replace4(u, from, to);
      wr16(l4 + 6, u ? u : 0xffff);
    }
  }
  return 0;
}

/* Decides where frame `f` (Ethernet at eth, len bytes) from port `in` goes; -1 = drop. */
static int route(int in, uint8_t *eth, int len, uint32_t vip) {
  if (len < 34 || rd16(eth + 12) != 0x0800) return -1;
  uint8_t *ip = eth + 14;
  int ihl = (ip[0] & 15) * 4;
  int out = -1;
  if (in == 0) {
    if (rd32(ip + 16) != vip) return -1;
    uint32_t h = rd32(ip + 12);
    uint16_t dport = 0;
    if ((ip[9] == 6 || ip[9] == 17) && len >= 14 + ihl + 4) {
      h ^= rd16(ip + ihl);
      dport = rd16(ip + ihl + 2);
    }
    h *= 0x9E3779B1u;
    out = dport == 5201 ? 1 : 1 + (int)((h >> 16) % (unsigned)(nports - 1));
    if (rewrite(ip, len - 14, 16, ports[out].rip) < 0) return -1;
  } else {
    if (rd32(ip + 12) != ports[in].rip) return -1;
    out = 0;
    if (rewrite(ip, len - 14, 12, vip) < 0) return -1;
  }
  memcpy(eth, ports[out].peer, 6);
  memcpy(eth + 6, ports[out].mac, 6);
  return out;
}

/* PACKET_STATISTICS clears on read: fold into the running total, then print the counters. */
static void print_stats(int nports) {
  for (int i = 0; i < nports; i++) {
    struct tpacket_stats st;
    socklen_t sl = sizeof st;
    if (getsockopt(ports[i].fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0) ring_drops += st.tp_drops;
  }
  fprintf(stderr, "{\"rx\":%llu,\"tx\":%llu,\"dropped\":%llu,\"ringDrops\":%llu}\n", rx, tx,
          dropped, ring_drops);
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: fwd SECONDS CLIENT_IF CLIENT_MAC VIP RS_IF,RIP,RS_MAC ...\n");
    return 2;
  }
  double seconds = atof(argv[1]);
  if (seconds <= 0 || seconds > 3600) return 2;
  struct in_addr a;
  if (inet_pton(AF_INET, argv[4], &a) != 1) return 2;
  uint32_t vip = ntohl(a.s_addr);
  open_port(&ports[0], argv[2]);
  if (parse_mac(argv[3], ports[0].peer) < 0) return 2;
  nports = 1;
  for (int i = 5; i < argc && nports < MAXIF; i++) {
    char *s = strdup(argv[i]);
    char *ifn = strtok(s, ","), *rip = strtok(NULL, ","), *mac = strtok(NULL, ",");
    if (!ifn || !rip || !mac || inet_pton(AF_INET, rip, &a) != 1) return 2;
    struct port *p = &ports[nports++];
    open_port(p, ifn);
    p->rip = ntohl(a.s_addr);
    if (parse_mac(mac, p->peer) < 0) return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGUSR1, on_report);
  fprintf(stderr, "fwd: running on %d interfaces\n", nports);

  struct pollfd pfd[MAXIF];
  for (int i = 0; i < nports; i++) pfd[i] = (struct pollfd){.fd = ports[i].fd, .events = POLLIN};
  double end = now_s() + seconds;
  /* Frames taken in this round, handed back once their batch is sent. */
  static struct tpacket2_hdr *held[MAXIF * BATCH];
  while (!stop && now_s() < end) {
    int any = 0, nheld = 0;
    for (int i = 0; i < nports; i++) {
      struct port *p = &ports[i];
      for (int k = 0; k < BATCH; k++) {
        struct tpacket2_hdr *h = (struct tpacket2_hdr *)(p->ring + (size_t)p->head * FRAME_SIZE);
        if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
        p->head = (p->head + 1) % FRAMES;
        held[nheld++] = h;
        any = 1;
        rx++;
        uint8_t *eth = (uint8_t *)h + h->tp_mac;
        int out = route(i, eth, (int)h->tp_snaplen, vip);
        if (out < 0) continue;
        struct port *o = &ports[out];
        o->iov[o->count].iov_base = eth;
        o->iov[o->count].iov_len = h->tp_snaplen;
        if (++o->count == BATCH) flush(o);
      }
    }
    for (int i = 0; i < nports; i++)
      if (ports[i].count) flush(&ports[i]);
    for (int k = 0; k < nheld; k++) __atomic_store_n(&held[k]->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    if (!any) poll(pfd, (nfds_t)nports, 100);
    if (report) {
      report = 0;
      print_stats(nports);
    }
  }
  print_stats(nports);
  return 0;
}
