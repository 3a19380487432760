/*
 * bpf_trace_printk: formats as bpf_bprintf_prepare allows (at most three
 * arguments; -EINVAL otherwise), its messages join the trace stream; trace
 * filters by event, device and err.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EINVAL, bpfTracePrintk } from '../src/index.ts';
import { bprintf } from '../src/cpu/helpers.ts';
import { fixture, withRuntime } from './helpers.ts';

test('bpf_trace_printk formats: widths, l/ll, signed and unsigned, %x %p %c %s %%; bad formats are -EINVAL', () => {
  assert.equal(bpfTracePrintk('%d %u %x %X', -1, -1, 255, 255), -EINVAL, 'four arguments');
  assert.equal(bpfTracePrintk('%d|%u|%x', -1, -1, 255), '-1|4294967295|ff'.length);
  assert.equal(bpfTracePrintk('%lld', -1n), 2);
  assert.equal(bpfTracePrintk('%llu', -1n), '18446744073709551615'.length);
  assert.equal(bpfTracePrintk('%5d|%-4u|%04x', 42, 7, 10), '   42|7   |000a'.length);
  assert.equal(bpfTracePrintk('%c%s 100%%', 65, 'B'), 'AB 100%'.length);
  assert.equal(bpfTracePrintk('%q', 1), -EINVAL, 'unknown conversion');
  assert.equal(bpfTracePrintk('%d'), -EINVAL, 'missing argument');
  assert.equal(bpfTracePrintk('%s', 5), -EINVAL, '%s needs a string');
  /* bpf_bprintf_prepare's rules: l/ll only before d i u x X, printable ASCII only, %% bare */
  assert.equal(bpfTracePrintk('%lc', 65), -EINVAL);
  assert.equal(bpfTracePrintk('%ls', 'a'), -EINVAL);
  assert.equal(bpfTracePrintk('%5%'), -EINVAL);
  assert.equal(bpfTracePrintk('\u00e9%d', 1), -EINVAL);
  /* long is 64 bits; sign, flags and zero padding as vsnprintf; the length is in bytes */
  assert.equal(bpfTracePrintk('%lx', 2 ** 32), '100000000'.length);
  assert.equal(bpfTracePrintk('%lu', -1n), '18446744073709551615'.length);
  assert.equal(bpfTracePrintk('%05d|%+d|% d|', -42, 5, 5), '-0042|+5| 5|'.length);
  assert.equal(bpfTracePrintk('%-4d|%05c|', -3, 65), '-3  |    A|'.length);
  assert.equal(bpfTracePrintk('%pI4 %pK', 0x0a000001, 255), '10.0.0.1 0xff'.length);
  assert.equal(bpfTracePrintk('%s', '\u00e9\u00e9'), 4);
  assert.equal(bpfTracePrintk('%d', NaN), 1);
  /* the messages themselves */
  assert.equal(bprintf('%05d|%+d|% d|', [-42, 5, 5]), '-0042|+5| 5|');
  assert.equal(bprintf('%-4d|%05c|%3s|', [-3, 65, 'ab']), '-3  |    A| ab|');
  assert.equal(bprintf('%d|%u|%x', [-1, -1, 255]), '-1|4294967295|ff');
  assert.equal(bprintf('%lld %llx %X', [-1n, 2n ** 40n, 48879]), '-1 10000000000 BEEF');
  assert.equal(bprintf('%pI4 %pK %p', [0x0a000001, 255, 16]), '10.0.0.1 0xff 0x10');
  assert.equal(bprintf('%c%s 100%%', [65, 'B']), 'AB 100%');
  assert.equal(bprintf('%lc', [65]), null);
});

test('bpf_trace_printk messages join the trace stream; filters by event, device and err', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [a] = rt.createVeth('pa', 'pap');
    const [b] = rt.createVeth('pb', 'pbp');
    const obj = await rt.loadObject(fixture('prog-printk.ts'));
    a.attachXdp(obj.progs.printk!);
    await a.inject({ count: 2, size: 70, srcPort: 777 });
    assert.equal(await rt.quiesce(), true);
    const msgs = rt.traceEvents('bpf_trace_printk');
    assert.deepEqual(msgs.map((e) => [e.cpu, e.msg]), [[0, 'len 70 sport 777 on xdp'], [0, 'len 70 sport 777 on xdp']]);
    assert.equal(new DataView(obj.maps.rets!.lookup(0)!.buffer).getUint32(0, true), 'len 70 sport 777 on xdp'.length);
    obj.maps.config!.update(0, 1);
    await a.inject({ count: 1 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(new DataView(obj.maps.rets!.lookup(0)!.buffer).getUint32(0, true), (-EINVAL) >>> 0);
    assert.equal(rt.traceEvents('bpf_trace_printk').length, 2, 'a bad format prints nothing');
    /* filters: a redirect error (-EINVAL, bpf_redirect to ifindex 60) on pb, printk on pa */
    const r = await rt.loadObject(fixture('prog-redirect.ts'));
    r.maps.cfg!.update(0, 2);
    r.maps.cfg!.update(1, 60);
    b.attachXdp(r.progs.xdp_redir!);
    obj.maps.config!.update(0, 0);
    rt.clearTraceEvents();
    rt.setTraceFilter({ ifindex: b.ifindex });
    await a.inject({ count: 3 });
    await b.inject({ count: 2 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(rt.traceEvents().map((e) => [e.event, e.err]), [['xdp_redirect_err', -EINVAL], ['xdp_redirect_err', -EINVAL]]);
    assert.equal(rt.traceFiltered, 3);
    rt.clearTraceEvents();
    rt.setTraceFilter({ events: ['bpf_trace_printk'] });
    await a.inject({ count: 1 });
    await b.inject({ count: 1 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(rt.traceEvents().map((e) => e.event), ['bpf_trace_printk']);
    rt.clearTraceEvents();
    rt.setTraceFilter({ err: -22 });
    await b.inject({ count: 1 });
    await a.inject({ count: 1 });
    assert.equal(await rt.quiesce(), true);
    assert.deepEqual(rt.traceEvents().map((e) => e.event), ['xdp_redirect_err']);
    assert.throws(() => rt.setTraceFilter({ events: ['xdp_nope'] }), /no event xdp_nope/);
    rt.setTraceFilter(null);
  });
});
