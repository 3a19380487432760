/*
 * bpf_xdp_adjust_head, _tail and _meta: the kernel's bounds, errno values
 * (-EINVAL, and -EACCES for a bad metadata length), and a failed call
 * leaves the frame untouched. Checked on the helpers directly over a frame
 * buffer, then end to end through a program on a CPU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EACCES, EINVAL, ETH_HLEN, SKB_SHARED_INFO_SIZE, XDP_FRAME_SIZE, XDP_PACKET_HEADROOM, XdpMd,
  bpfXdpAdjustHead, bpfXdpAdjustMeta, bpfXdpAdjustTail,
} from '../src/index.ts';
import { fixture, withRuntime } from './helpers.ts';

const FRAME = 2048;
const HARD_END = FRAME - SKB_SHARED_INFO_SIZE;

function ctx(len = 64): XdpMd {
  const c = new XdpMd();
  c.pkt = new Uint8Array(FRAME);
  c.dv = new DataView(c.pkt.buffer);
  c.frame_sz = FRAME;
  c.hard_end = HARD_END;
  c.data = XDP_PACKET_HEADROOM;
  c.data_meta = c.data;
  c.data_end = c.data + len;
  for (let i = 0; i < len; i++) c.pkt[c.data + i] = i + 1;
  return c;
}
const geom = (c: XdpMd): number[] => [c.data_meta, c.data, c.data_end];

test('adjust_head: down to the xdp_frame + metadata, up to data_end - ETH_HLEN', () => {
  const c = ctx();
  const lowest = -(XDP_PACKET_HEADROOM - XDP_FRAME_SIZE); /* -216 */
  assert.equal(bpfXdpAdjustHead(c, lowest - 1), -EINVAL);
  assert.deepEqual(geom(c), [256, 256, 320]);
  assert.equal(bpfXdpAdjustHead(c, lowest), 0);
  assert.deepEqual(geom(c), [XDP_FRAME_SIZE, XDP_FRAME_SIZE, 320]);
  assert.equal(bpfXdpAdjustHead(c, -lowest), 0);
  assert.equal(c.pkt[c.data], 1); /* the packet bytes did not move */
  assert.equal(bpfXdpAdjustHead(c, 64 - ETH_HLEN + 1), -EINVAL);
  assert.equal(bpfXdpAdjustHead(c, 64 - ETH_HLEN), 0);
  assert.equal(c.data_end - c.data, ETH_HLEN);
  assert.equal(bpfXdpAdjustHead(c, 1), -EINVAL);
});

test('adjust_head moves the metadata with data, and the metadata counts against the headroom', () => {
  const c = ctx();
  assert.equal(bpfXdpAdjustMeta(c, -8), 0);
  c.dv.setUint32(c.data_meta, 0xdeadbeef);
  c.dv.setUint32(c.data_meta + 4, 0x01020304);
  assert.equal(bpfXdpAdjustHead(c, -20), 0);
  assert.equal(c.data - c.data_meta, 8);
  assert.equal(c.dv.getUint32(c.data_meta), 0xdeadbeef);
  assert.equal(c.dv.getUint32(c.data_meta + 4), 0x01020304);
  /* data may go no lower than xdp_frame + 8 bytes of metadata */
  const room = c.data - (XDP_FRAME_SIZE + 8);
  assert.equal(bpfXdpAdjustHead(c, -room - 1), -EINVAL);
  assert.equal(bpfXdpAdjustHead(c, -room), 0);
  assert.equal(c.data_meta, XDP_FRAME_SIZE);
  assert.equal(c.dv.getUint32(c.data_meta), 0xdeadbeef);
});

test('adjust_tail: up to the skb_shared_info tailroom, down to ETH_HLEN; growth is zeroed', () => {
  const c = ctx();
  c.pkt.fill(0xaa, c.data_end, HARD_END);
  const room = HARD_END - c.data_end; /* 2048-320-320 = 1408 */
  assert.equal(room, 1408);
  assert.equal(bpfXdpAdjustTail(c, room + 1), -EINVAL);
  assert.deepEqual(geom(c), [256, 256, 320]);
  assert.equal(bpfXdpAdjustTail(c, 10), 0);
  assert.equal(c.data_end, 330);
  assert.deepEqual([...c.pkt.subarray(320, 331)], [...new Array(10).fill(0), 0xaa]);
  assert.equal(bpfXdpAdjustTail(c, room - 10), 0);
  assert.equal(c.data_end, HARD_END);
  assert.equal(bpfXdpAdjustTail(c, -(c.data_end - c.data - ETH_HLEN) - 1), -EINVAL);
  assert.equal(bpfXdpAdjustTail(c, -(c.data_end - c.data - ETH_HLEN)), 0);
  assert.equal(c.data_end - c.data, ETH_HLEN);
});

test('adjust_meta: not below xdp_frame or above data (-EINVAL), 4-byte multiples up to 255 (-EACCES)', () => {
  const c = ctx();
  /* the values measured on kernel 6.18 with veth (256 bytes of headroom) */
  assert.equal(bpfXdpAdjustMeta(c, 4), -EINVAL);  /* above data */
  assert.equal(bpfXdpAdjustMeta(c, -220), -EINVAL);
  assert.equal(bpfXdpAdjustMeta(c, -256), -EINVAL);
  assert.equal(bpfXdpAdjustMeta(c, -2), -EACCES);
  assert.equal(bpfXdpAdjustMeta(c, -6), -EACCES);
  assert.equal(bpfXdpAdjustMeta(c, -214), -EACCES);
  assert.deepEqual(geom(c), [256, 256, 320]);
  for (const m of [-4, -32, -36, -216]) {
    assert.equal(bpfXdpAdjustMeta(c, m), 0, `adjust_meta(${m})`);
    assert.equal(c.data - c.data_meta, -m);
    assert.equal(bpfXdpAdjustMeta(c, -m), 0);
  }
  assert.equal(c.data_meta, c.data);
  /* with a bigger headroom, the 255-byte length limit is what stops it */
  const big = ctx();
  big.data = big.data_meta = 1024;
  big.data_end = 1100;
  assert.equal(bpfXdpAdjustMeta(big, -252), 0);
  assert.equal(bpfXdpAdjustMeta(big, 252), 0);
  assert.equal(bpfXdpAdjustMeta(big, -256), -EACCES);
  /* near the xdp_frame: the lower bound wins over the length check */
  assert.equal(bpfXdpAdjustHead(c, -(XDP_PACKET_HEADROOM - XDP_FRAME_SIZE) + 4), 0);
  assert.equal(c.data, XDP_FRAME_SIZE + 4);
  assert.equal(bpfXdpAdjustMeta(c, -8), -EINVAL);
  assert.equal(bpfXdpAdjustMeta(c, -4), 0);
});

test('adjust helpers in a program on a CPU: results and the frame that leaves', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [v0] = rt.createVeth('adja', 'adjb');
    const obj = await rt.loadObject(fixture('prog-adjust.ts'));
    v0.attachXdp(obj.progs.adjust!);
    const got: Uint8Array[] = [];
    v0.onPass((p) => got.push(p.data));
    const run = async (head: number, tail: number, meta: number): Promise<number[]> => {
      obj.maps.ops!.update(0, head >>> 0);
      obj.maps.ops!.update(1, tail >>> 0);
      obj.maps.ops!.update(2, meta >>> 0);
      await v0.inject({ count: 1, size: 100 });
      assert.equal(await rt.quiesce(), true);
      rt.collect();
      return [0, 1, 2, 3, 4, 5].map((k) => new DataView(obj.maps.results!.lookup(k)!.buffer).getInt32(0, true));
    };
    /* grow the head by 14 (encapsulation room), trim 4 off the tail, 8 bytes of metadata */
    assert.deepEqual(await run(-14, -4, -8), [0, 0, 0, 8, 100 + 14 - 4, 256 - 14]);
    assert.equal(got.at(-1)!.length, 110);
    /* out of bounds: each fails alone, the frame leaves as it came */
    const tailRoom = rt.limits.frameSize - SKB_SHARED_INFO_SIZE - XDP_PACKET_HEADROOM - 100;
    assert.deepEqual(await run(-217, tailRoom + 1, -6), [-EINVAL, -EINVAL, -EACCES, 0, 100, 256]);
    assert.equal(got.at(-1)!.length, 100);
    assert.equal(got.at(-1)![12], 0x08);
  });
});
