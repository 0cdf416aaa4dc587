/*
 * udpsink: the UDP measurement's receiver on a real server. Binds UDP PORT on every address
 * and never reads: datagrams queue until the receive buffer is full, then the kernel drops
 * them (UDP RcvbufErrors). Without a bound socket the real server answers every datagram
 * with an ICMP port unreachable, and veth runs that receive path (and the reply) inline on
 * the sender's CPU, where it took 27% of the forwarder's core (issue 15). Not reading keeps
 * the real server's cost per datagram to the socket lookup and the drop.
 *
 * usage: udpsink PORT SECONDS    (prints "udpsink: bound PORT", exits after SECONDS or on
 * SIGTERM/SIGINT)
 */
#define _GNU_SOURCE
#include <signal.h>
#include <netinet/in.h>
#include "common.h"

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: udpsink PORT SECONDS\n");
    return 2;
  }
  int port = atoi(argv[1]);
  double seconds = atof(argv[2]);
  if (port <= 0 || port > 65535 || seconds <= 0) {
    fprintf(stderr, "udpsink: bad PORT or SECONDS\n");
    return 2;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int small = 4096; /* the kernel doubles it and applies its minimum: a few datagrams */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  fprintf(stderr, "udpsink: bound %d\n", port);
  double end = now_s() + seconds;
  while (!stop && now_s() < end) usleep(100000);
  close(fd);
  return 0;
}
