/*
 * httpd: a tiny epoll HTTP/1.1 server for the real servers, built so that it is not the
 * bottleneck: one thread, non-blocking sockets, a fixed 2-byte body, keep-alive unless the
 * request says "Connection: close" (then it answers and closes). Pipelined requests are
 * answered in order. Stops by itself after SECONDS (or on SIGTERM).
 *
 * usage: httpd PORT SECONDS (listens on IPv4 and IPv6)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <strings.h>
#include <sys/epoll.h>
#include "common.h"

static const char RESP_KA[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
static const char RESP_CLOSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: httpd PORT SECONDS\n");
    return 2;
  }
  int port = atoi(argv[1]);
  double seconds = atof(argv[2]);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  /* One dual-stack socket serves the IPv4 and the IPv6 paths alike. */
  int ls = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1, zero = 0;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0) die("IPV6_V6ONLY");
  struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                            .sin6_addr = IN6ADDR_ANY_INIT};
  if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  if (listen(ls, 4096) < 0) die("listen");
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  struct epoll_event evs[256];
  char buf[16384];
  double end = now_s() + seconds;
  unsigned long long served = 0;
  while (!stop && now_s() < end) {
    int n = epoll_wait(ep, evs, 256, 200);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        for (;;) {
          int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
          if (c < 0) break;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf - 1);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        close(fd);
        continue;
      }
      buf[r] = 0;
      int close_after = 0;
      char *p = buf;
      char out[8192];
      size_t olen = 0;
      char *e;
      while ((e = strstr(p, "\r\n\r\n")) != NULL) {
        *e = 0;
        int cl = strcasestr(p, "connection: close") != NULL;
        const char *resp = cl ? RESP_CLOSE : RESP_KA;
        size_t rl = cl ? sizeof RESP_CLOSE - 1 : sizeof RESP_KA - 1;
        if (olen + rl < sizeof out) {
          memcpy(out + olen, resp, rl);
          olen += rl;
        }
        served++;
        p = e + 4;
        if (cl) {
          close_after = 1;
          break;
        }
      }
      if (olen && write(fd, out, olen) < 0) close_after = 1;
      if (close_after) close(fd);
    }
  }
  fprintf(stderr, "{\"served\":%llu}\n", served);
  return 0;
}
