import { describe, expect, it } from 'vitest';
import { TimerWheel } from '../../src/ipvs/timer-wheel.js';

describe('TimerWheel', () => {
  it('fires in time order, not before due, and each entry once', () => {
    const w = new TimerWheel(16, 10, 4); // 16 slots of 10 ms: 160 ms per revolution
    w.touch(0);
    const fired: number[] = [];
    const fn = (id: number) => fired.push(id);
    w.schedule(0, 500); // several revolutions ahead
    w.schedule(1, 35);
    w.schedule(2, 5);
    w.schedule(3, 35);
    w.schedule(4, 170); // same slot as 1 and 3, next revolution
    w.advance(4, fn);
    expect(fired).toEqual([]);
    w.advance(34, fn);
    expect(fired).toEqual([2]);
    w.advance(35, fn);
    expect(fired).toEqual([2, 1, 3]);
    w.advance(169, fn);
    expect(fired).toEqual([2, 1, 3]);
    w.advance(1000, fn);
    expect(fired).toEqual([2, 1, 3, 4, 0]);
    expect(w.isArmed(0)).toBe(false);
  });

  it('re-arms later lazily and earlier at once; cancel disarms', () => {
    const w = new TimerWheel(8, 10, 4);
    w.touch(0);
    const fired: number[] = [];
    const fn = (id: number) => fired.push(id);
    w.schedule(0, 50);
    w.schedule(0, 400); // later: lazily kept in the 50 ms slot, re-filed when reached
    expect(w.expiresAt(0)).toBe(400);
    w.advance(60, fn);
    expect(fired).toEqual([]);
    w.schedule(0, 70); // earlier: re-linked
    w.schedule(1, 65);
    w.cancel(1);
    w.advance(70, fn);
    expect(fired).toEqual([0]);
    expect(w.expiresAt(1)).toBe(-1);
  });

  it('lets the callback re-arm or cancel entries of the batch being fired', () => {
    const w = new TimerWheel(8, 10, 4);
    w.touch(0);
    const fired: number[] = [];
    w.schedule(0, 10);
    w.schedule(1, 10);
    w.schedule(2, 10);
    w.advance(10, (id) => {
      fired.push(id);
      if (id === 0) {
        w.cancel(1); // same slot, not yet handled: must not fire
        w.schedule(0, 25); // itself, later
      }
    });
    expect(fired).toEqual([0, 2]);
    w.advance(30, (id) => fired.push(id));
    expect(fired).toEqual([0, 2, 0]);
  });

  it('rejects bad geometry with a clear error', () => {
    expect(() => new TimerWheel(0)).toThrow(RangeError);
    expect(() => new TimerWheel(8, 0)).toThrow(RangeError);
    expect(() => new TimerWheel(8, 10, 40)).toThrow(RangeError);
  });
});
