#!/usr/bin/env python3
"""Interleaved A/B of `kirim bench` binaries on a noisy machine.

Runs each binary's `kirim bench --json` in turn, N rounds, and prints every run and
the medians per payout (Redis and worker CPU in µs, commands, rates).

Usage: scripts/ab-bench.py N LABEL=BINARY[:ENV=VALUE,...] ...
  AB_ARGS   the bench arguments (default: --transfers 20000 --workers 2)
  CWD=DIR   (as an ENV entry) the directory a binary runs in, e.g. an old
            checkout whose config/default.toml it understands.
  BENCH_ARGS=...  (as an ENV entry) more bench arguments for that side only.
Example: scripts/ab-bench.py 3 before=/tmp/kirim-old:CWD=/tmp/old after=target/release/kirim
"""
import subprocess, json, sys, os, statistics, shlex
n=int(sys.argv[1]); cfgs=[]
for a in sys.argv[2:]:
    label, rest = a.split('=',1)
    parts = rest.split(':',1)
    env = dict(os.environ, KIRIM_LOG__FILTER='warn')
    if len(parts)>1:
        for kv in parts[1].split(','):
            k,v=kv.split('=',1); env[k]=v
    cfgs.append((label, parts[0], env))
res={l:[] for l,_,_ in cfgs}
extra=os.environ.get('AB_ARGS','--transfers 20000 --workers 2').split()
for i in range(n):
    for label, b, env in cfgs:
        out=subprocess.run([b,'bench','--json']+extra+shlex.split(env.get('BENCH_ARGS','')), env=env, capture_output=True, text=True, cwd=env.get('CWD', os.getcwd()))
        try:
            r=json.loads(out.stdout)
        except Exception:
            print(label, 'FAILED', out.stderr[-2000:]); continue
        p=r['e2e'][0]['pipeline']; bare=r['e2e'][0]['bare']
        N=p['items']
        row=dict(rate=p['total_rate'], after=p['after_enqueue_rate'], redis_us=p['redis_cpu_secs']/N*1e6, wrk_us=p['workers']['cpu_secs']/N*1e6, drv_us=p['driver_cpu_secs']/N*1e6, cmds=p['redis_calls_per_item'], bare=bare['total_rate'])
        res[label].append(row)
        print(label, {k:round(v,1) for k,v in row.items()}, flush=True)
print('--- medians')
for label in res:
    rows=res[label]
    if not rows: continue
    print(label, {k: round(statistics.median(r[k] for r in rows),1) for k in rows[0]})
