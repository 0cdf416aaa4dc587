/** Neighbours learned from ARP: refreshed in place, and the cache bounded like the IPv6 one. */
import { expect, it } from 'vitest';
import { DirectorEnv, MAX_LEARNED_NEIGHBOURS } from '../../src/datapath/env.js';

it('learns a neighbour, refreshes it in place, and stops learning new ones when full', () => {
  const env = new DirectorEnv();
  const frame = Uint8Array.of(0, 2, 0, 0, 0, 0, 1);
  const base = 0xc6120000; // 198.18.0.0
  env.learnNeighbour(base + 1, frame, 1);
  expect(env.neighbourList()).toEqual([[base + 1, Uint8Array.of(2, 0, 0, 0, 0, 1)]]);
  frame[6] = 9;
  env.learnNeighbour(base + 1, frame, 1);
  expect(env.neighbourList()[0][1][5]).toBe(9);
  for (let i = 2; i <= MAX_LEARNED_NEIGHBOURS + 10; i++) env.learnNeighbour(base + i, frame, 1);
  const list = env.neighbourList();
  expect(list.length).toBe(MAX_LEARNED_NEIGHBOURS);
  expect(list.some(([a]) => a === base + MAX_LEARNED_NEIGHBOURS + 1)).toBe(false);
  // A full cache still refreshes the entries it has.
  frame[6] = 7;
  env.learnNeighbour(base + 1, frame, 1);
  expect(env.neighbourList().find(([a]) => a === base + 1)?.[1][5]).toBe(7);
});
