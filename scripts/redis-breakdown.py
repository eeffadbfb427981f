#!/usr/bin/env python3
"""Group a `redis-cli MONITOR` capture of one `kirim bench` pipeline run by issuer.
usage: analyze.py CAPTURE  (stops at the first FLUSHALL after data: the bare run)"""
import re, sys, shlex, collections
line_re = re.compile(r'^(\d+\.\d+) \[\d+ ([^\]]+)\] (.*)$')
def parse(rest):
    try: return shlex.split(rest)
    except ValueError: return rest.split()
def suffix(key):
    # {ns}:payout:..., {ns}:jobs:transfer:meta:ID
    k = re.sub(r'^\{[^}]*\}:', '', key)
    parts = k.split(':')
    if parts[0] == 'jobs':
        return 'jobs:' + (parts[2] if len(parts) > 2 else '')
    return parts[0]
def script_name(args):
    nkeys = int(args[2]); keys = [suffix(k) for k in args[3:3+nkeys]]; argv = args[3+nkeys:]
    if keys[:4] == ['payout','history','due','state']: return 'create.lua'
    if keys[:2] == ['payout','history'] and len(keys) >= 7:
        return 'transition.lua -> ' + argv[1]
    if keys[:1] == ['due'] and nkeys == 1: return 'claim_due.lua'
    return 'script[' + ','.join(keys) + ']'
cats = collections.defaultdict(lambda: [0, 0])  # name -> [top-level calls, commands incl. lua]
inner = collections.defaultdict(collections.Counter)
cur = None; seen_data = False
for line in open(sys.argv[1], errors='replace'):
    m = line_re.match(line.strip())
    if not m: continue
    _, who, rest = m.groups(); args = parse(rest)
    if not args: continue
    cmd = args[0].lower()
    if who == 'lua':
        if cur: cats[cur][1] += 1; inner[cur][cmd] += 1
        continue
    if cmd == 'flushall' and seen_data: break
    seen_data = True
    if cmd in ('evalsha', 'eval'):
        cur = script_name(args)
    else:
        cur = None
        key = suffix(args[1]) if len(args) > 1 else ''
        name = f'{cmd} {key}'
        if cmd in ('hget','hmget') and len(args) > 2: name += ' ' + ' '.join(args[2:])
        cats[name][0] += 1; cats[name][1] += 1
        continue
    cats[cur][0] += 1; cats[cur][1] += 1; inner[cur]['evalsha'] += 1
# per-payout normaliser: final transitions seen
finals = sum(v[0] for k, v in cats.items() if k.startswith('transition.lua -> SUCCEEDED'))
creates = cats.get('create.lua', [0,0])[0]
print(f'final transitions: {finals}, creates captured: {creates}')
tot = 0
for k, (calls, cmds) in sorted(cats.items(), key=lambda kv: -kv[1][1]):
    n = creates if k == 'create.lua' else finals
    tot += cmds / n
    print(f'{k:60s} calls/payout {calls/n:6.3f} cmds/payout {cmds/n:6.3f}  {dict(inner[k]) if k in inner else ""}')
print(f'total cmds/payout {tot:.2f}')
