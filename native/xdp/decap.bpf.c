// SPDX-License-Identifier: GPL-2.0
/*
 * XDP IPIP decapsulation for `uvs realserver --decap --xdp`: on a real server where BPF is
 * allowed, strip the director's outer IPv4 header in the driver's receive path and pass the
 * inner packet (client -> VIP) up the same interface, so the host stack (GRO included)
 * receives it as if the client had sent it there. No TUN device, no copy, no user space.
 *
 * Only the plain case is handled here; every other IPIP packet is passed on untouched and
 * reaches the decapsulator's raw IPPROTO_IPIP socket, which checks and counts it in user
 * space exactly as `--rx raw` does (src/realserver/decap.ts):
 *   - outer header: version 4, IHL 5, a valid header checksum, not a fragment (the kernel
 *     reassembles fragments for the raw socket), tot_len within the frame;
 *   - outer destination one of this host's addresses: the map `uvs_decap_local` (keys in
 *     network order), which the decapsulator keeps equal to its local address set
 *     (bpf_fib_lookup cannot tell: it refuses to look up when forwarding is off, as on a
 *     real server);
 *   - no CE mark on the outer header (the ECN rule of ip_tunnel_rcv is left to user space);
 *   - inner: version 4, IHL >= 5, tot_len == outer tot_len - 20.
 * A frame with VLAN tags is passed on (the stack strips them; the raw socket sees the rest).
 * Counters: per-CPU array `uvs_decap_stats`, slot 0 decapsulated here, slot 1 passed on.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u64);
} uvs_decap_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, __u8);
} uvs_decap_local SEC(".maps");

static __always_inline int count(__u32 slot, int verdict) {
  __u64 *v = bpf_map_lookup_elem(&uvs_decap_stats, &slot);
  if (v) *v += 1;
  return verdict;
}

/* RFC 1071 over the 20-byte outer header: 0xffff when the stored checksum is right. */
static __always_inline __u16 fold(__u64 s) {
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (__u16)s;
}

SEC("xdp")
int uvs_decap(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
  struct iphdr *o = (void *)(eth + 1);
  if ((void *)(o + 1) > end || o->protocol != IPPROTO_IPIP) return XDP_PASS;
  if (o->version != 4 || o->ihl != 5 || (o->frag_off & bpf_htons(0x3fff)) != 0 || (o->tos & 3) == 3)
    return count(1, XDP_PASS);
  __u16 *w = (__u16 *)o;
  __u64 s = 0;
#pragma unroll
  for (int i = 0; i < 10; i++) s += w[i];
  if (fold(s) != 0xffff) return count(1, XDP_PASS);
  __u16 otot = bpf_ntohs(o->tot_len);
  if (otot < 40 || (void *)o + otot > end) return count(1, XDP_PASS);
  struct iphdr *in = (void *)(o + 1);
  if ((void *)(in + 1) > end || in->version != 4 || in->ihl < 5 || bpf_ntohs(in->tot_len) != otot - 20)
    return count(1, XDP_PASS);

  __u32 daddr = o->daddr;
  if (!bpf_map_lookup_elem(&uvs_decap_local, &daddr)) return count(1, XDP_PASS);

  /* Move the Ethernet header over the outer IP header, then drop the 20 bytes before it. */
  struct ethhdr copy = *eth;
  struct ethhdr *neth = (void *)eth + sizeof(struct iphdr);
  if ((void *)(neth + 1) > end) return count(1, XDP_PASS);
  *neth = copy;
  if (bpf_xdp_adjust_head(ctx, (int)sizeof(struct iphdr)) != 0) return count(1, XDP_PASS);
  return count(0, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
