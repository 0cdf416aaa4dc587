/*
 * shed: attaches a classic BPF socket filter to a running uvs director's packet socket on
 * one interface, to measure what shedding SYNs in the kernel, in front of the receive ring,
 * wins back during a flood (bench/netns/synflood.ts --shed). The filter passes every frame
 * but TCP SYNs (SYN without ACK), of which it keeps a random KEEP/65536: the others are
 * dropped before they take a ring slot, a copy and a wake-up of the director.
 *
 * The socket is reached without changing the director: pidfd_getfd (Linux 5.6+) duplicates
 * its descriptor, and a filter set on the duplicate is set on the socket. The descriptor is
 * the packet socket (in /proc/net/packet of the director's namespace, so run this inside
 * it) bound to IFACE.
 *
 * usage: shed PID IFACE KEEP      (KEEP 0..65536; 65536 removes nothing but still filters)
 *        shed PID IFACE off       (detach the filter)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <linux/filter.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* The inode of the packet socket bound to ifindex, from /proc/net/packet. */
static unsigned long packet_inode(int ifindex) {
  FILE *f = fopen("/proc/net/packet", "r");
  if (f == NULL) return 0;
  char line[512];
  unsigned long found = 0;
  if (fgets(line, sizeof line, f) == NULL) { fclose(f); return 0; }
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long sk, inode;
    int ref, type, proto, iface, r, rmem, user;
    if (sscanf(line, "%lx %d %d %x %d %d %d %d %lu", &sk, &ref, &type, &proto, &iface, &r,
               &rmem, &user, &inode) == 9 && iface == ifindex) {
      found = inode;
      break;
    }
  }
  fclose(f);
  return found;
}

/* The descriptor number, in process pid, of the socket with that inode. */
static int fd_of(int pid, unsigned long inode) {
  char dir[64], want[64], path[320], link[64];
  snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
  snprintf(want, sizeof want, "socket:[%lu]", inode);
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  struct dirent *e;
  int fd = -1;
  while ((e = readdir(d)) != NULL) {
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0) continue;
    link[n] = 0;
    if (strcmp(link, want) == 0) {
      fd = atoi(e->d_name);
      break;
    }
  }
  closedir(d);
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: shed PID IFACE KEEP|off\n");
    return 2;
  }
  int pid = atoi(argv[1]);
  int ifindex = (int)if_nametoindex(argv[2]);
  int off = strcmp(argv[3], "off") == 0;
  long keep = off ? 0 : atol(argv[3]);
  if (pid <= 0 || ifindex == 0 || keep < 0 || keep > 65536) {
    fprintf(stderr, "shed: bad PID, IFACE or KEEP (0..65536)\n");
    return 2;
  }
  unsigned long inode = packet_inode(ifindex);
  int target = inode == 0 ? -1 : fd_of(pid, inode);
  if (target < 0) {
    fprintf(stderr, "shed: no packet socket of %d on %s\n", pid, argv[2]);
    return 1;
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, target, 0);
  if (fd < 0) {
    perror("shed: pidfd_getfd");
    return 1;
  }
  if (off) {
    int z = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &z, sizeof z) < 0) perror("SO_DETACH_FILTER");
    printf("{\"detached\":true}\n");
    return 0;
  }
  /* Offsets from the Ethernet header (a SOCK_RAW packet socket's filter sees the frame). */
  struct sock_filter prog[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),                       /* 0 ethertype */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 11),            /* 1 IPv4? */
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),                       /* 2 protocol */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 9),                  /* 3 TCP? */
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),                       /* 4 fragment offset */
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 7, 0),            /* 5 a later fragment */
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),                      /* 6 X = IP header length */
      BPF_STMT(BPF_LD | BPF_B | BPF_IND, 27),                       /* 7 TCP flags */
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),                    /* 8 SYN|ACK */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 3),               /* 9 a SYN alone? */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_RANDOM), /* 10 */
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xffff),                  /* 11 */
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (unsigned)keep, 1, 0),     /* 12 shed? */
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff),                        /* 13 keep */
      BPF_STMT(BPF_RET | BPF_K, 0),                                 /* 14 shed */
  };
  struct sock_fprog fp = {sizeof prog / sizeof prog[0], prog};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) < 0) {
    perror("shed: SO_ATTACH_FILTER");
    return 1;
  }
  printf("{\"attached\":true,\"fd\":%d,\"keep\":%ld}\n", target, keep);
  return 0;
}
