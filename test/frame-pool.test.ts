import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FM_DATA, FM_LEN, FM_STATE, FM_WORDS, FramePool, SKB_SHARED_INFO_SIZE, countFramesInUse, countFreeFrames,
  createFramePool,
} from '../src/shared/frame-pool.ts';
import { XDP_PACKET_HEADROOM } from '../src/shared/uapi.ts';

test('frame pool: homes, headroom, exhaustion', () => {
  const shared = createFramePool(2048, 64, 3);
  assert.equal(shared.nframes, 192);
  const home1 = new FramePool(shared, 1);
  assert.equal(home1.maxLinearLen, 2048 - XDP_PACKET_HEADROOM - SKB_SHARED_INFO_SIZE);
  const got: number[] = [];
  for (let i = 0; i < 64; i++) got.push(home1.alloc());
  assert.deepEqual(got.slice().sort((a, b) => a - b), Array.from({ length: 64 }, (_, i) => 64 + i));
  assert.equal(home1.alloc(), -1);
  assert.equal(home1.allocFails, 1);
  const m = got[0]! * FM_WORDS;
  assert.equal(home1.meta[m + FM_DATA], XDP_PACKET_HEADROOM);
  assert.equal(home1.meta[m + FM_LEN], 0);
  assert.equal(countFramesInUse(shared), 64);
  assert.equal(countFreeFrames(shared), 128);
  for (const fd of got) home1.free(fd);
  assert.equal(countFramesInUse(shared), 0);
  assert.equal(countFreeFrames(shared), 192);
});

test('frame pool: a frame freed on another home goes back home through its return ring', () => {
  const shared = createFramePool(2048, 64, 2);
  const a = new FramePool(shared, 0);
  const b = new FramePool(shared, 1);
  const fds: number[] = [];
  for (let i = 0; i < 64; i++) fds.push(a.alloc());
  assert.equal(a.alloc(), -1);
  /* b frees 10 of a's frames: batched until flushReturns() */
  for (let i = 0; i < 10; i++) b.free(fds[i]!);
  assert.equal(a.alloc(), -1);
  b.flushReturns();
  assert.equal(countFreeFrames(shared), 64 + 10);
  const again: number[] = [];
  for (let i = 0; i < 10; i++) again.push(a.alloc());
  assert.deepEqual(again.sort((x, y) => x - y), fds.slice(0, 10).sort((x, y) => x - y));
  assert.equal(a.alloc(), -1);
  /* a full batch (64) is pushed without waiting for flushReturns */
  for (const fd of [...again, ...fds.slice(10)]) b.free(fd);
  b.flushReturns();
  assert.equal(countFreeFrames(shared), 128);
  assert.equal(countFramesInUse(shared), 0);
});

test('frame pool: a double free or a bad descriptor is counted, not corrupting', () => {
  const shared = createFramePool(2048, 64, 1);
  const p = new FramePool(shared, 0);
  const fd = p.alloc();
  p.free(fd);
  p.free(fd);
  p.free(-1);
  p.free(10_000);
  assert.equal(p.badFrees, 3);
  assert.equal(p.meta[fd * FM_WORDS + FM_STATE], 0);
  assert.equal(countFreeFrames(shared), 64);
  assert.throws(() => createFramePool(1000, 64, 1), /multiple of 64/);
});
