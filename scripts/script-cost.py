#!/usr/bin/env python3
"""What kirim's ledger scripts cost Redis, one by one, on a quiet private server.

Starts its own redis-server (no persistence, so no fsync in the figures), writes N
ACCEPTED records as create.lua does, moves each ACCEPTED -> SUBMITTING -> SUCCEEDED
with transition.lua, and prints INFO commandstats per payout: the EVALSHA time
(which includes the commands the script calls) next to those commands' own time,
and the same calls against a script that does nothing, with the same arguments
(what calling a script with a payout's arguments costs before any work).

Usage: pip install redis; scripts/script-cost.py [N]   (BENCHMARKS.md, round five)
"""
import os, socket, subprocess, sys, tempfile, time
import redis

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def free_port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p

def transition_src():
    # The edge table is generated from domain::State in Rust; its size, not its
    # content, is what costs, so every pair of the states is allowed here.
    states = "ACCEPTED SUBMITTING PENDING UNKNOWN NEEDS_REVIEW SUCCEEDED CANCELLED FAILED".split()
    pairs = ",".join(f"['{a}>{b}']=true" for a in states for b in states if a != b)
    sets = ",".join(f"['{s}']=true" for s in states[2:])
    src = open(os.path.join(ROOT, 'src/ledger/transition.lua')).read()
    return src.replace('__ALLOWED__', '{' + pairs + '}').replace('__SETS__', '{' + sets + '}')

DOC = '{"kind":"transfer","provider":"ifortepay","partner_reference":"B8e0c40-000002616","amount":"150000.00","beneficiary":{"account_no":"8000002616","bank_code":"014","name":"Budi Santoso","phone":"081234567890"},"remark":"bench","verify_beneficiary_name":false}'
META = '{"created_at":1796236717810,"updated_at":1796236718750,"submissions":1,"retries":0,"checks":0,"provider_reference":"STI26120300000002624","response_code":"2001800","response_message":"Successful","submitted_at":1796236718737,"dead":false,"resubmits":0,"certain_resubmits":0}'
SUBMIT = '{"at":1796236718737,"event":"submit","from":"ACCEPTED","to":"SUBMITTING","external_id":"__EXTID__","actor":"kirim-worker-vm-10035-d8c387cc","note":"submit"}'
# A settled iFortepay transfer's final entry, as a bench run writes it (1,150 bytes).
FINAL = '{"at":1796236718750,"event":"request","from":"SUBMITTING","to":"SUCCEEDED","external_id":"20261203013838737812379001337","outcome":"success","response_code":"2001800","message":"Successful","http_status":200,"latency_ms":12,"detail":{"additionalInfo":{"beneficiaryAccountName":"Budi Santoso","beneficiaryCity":"3173","beneficiaryCountry":"ID","cancelledReason":"","direction":"DOMESTIC","executionDate":null,"fee":{"currency":"IDR","value":"3000.00"},"isVirtualAccount":"N","senderCity":"3173","senderCountry":"ID","status":"SUCCESS","transactionPurpose":"3"},"amount":{"currency":"IDR","value":"150000.00"},"beneficiaryAccountNo":"8000002616","beneficiaryBankCode":"014","originatorInfos":[{"originatorBankCode":"014","originatorCustomerName":"PT Kirim Contoh","originatorCustomerNo":"053229281239"}],"partnerReferenceNo":"B8e0c40-000002616","referenceNo":"STI26120300000002624","responseCode":"2001800","responseMessage":"Successful","sourceAccountNo":"123812939120","transactionDate":"2026-12-03T01:38:37+07:00"},"actor":"kirim-worker-vm-10035-d8c387cc","note":"provider: success"}'
CREATED = '{"at":1796236717810,"event":"created","to":"ACCEPTED"}'
FP = '5f2f0b762a2a17582b95ef709f50182e02390304bf58e2d763500222b29ea508'

def run(r, sha_create, sha_trans, label):
    r.flushall(); r.config_resetstat()
    for phase in ('create', 'submit', 'final'):
        p = r.pipeline(transaction=False)
        for i in range(N):
            k = '{b}:payout:ifortepay:P-%06d' % i
            if phase == 'create':
                p.evalsha(sha_create, 3, k, '{b}:history:x', '{b}:due', FP, DOC, META, CREATED,
                          '1796236719000', 'ifortepay:P-%06d' % i, 'transfer', '')
            else:
                submit = phase == 'submit'
                p.evalsha(sha_trans, 8, k, '{b}:history:' + str(i), '{b}:due', '{b}:ev', '{b}:evdue',
                          '{b}:dead', '{b}:deadseq', '{b}:cold',
                          1 if submit else 2, 'SUBMITTING' if submit else 'SUCCEEDED', META,
                          SUBMIT if submit else FINAL, '1796236779000' if submit else '',
                          'ifortepay:P-%06d' % i, '{b}:state:',
                          '20261203013838737812379%06d' % i if submit else '', '', '', '1796236718750', '')
            if len(p) >= 200:
                p.execute()
        p.execute()
    stats = r.info('commandstats')
    print(f'--- {label}: per payout (3 script calls), µs')
    inner = 0.0
    for k, v in sorted(stats.items(), key=lambda kv: -kv[1]['usec']):
        name = k.replace('cmdstat_', '')
        if name.startswith('config') or name.startswith('flushall'):
            continue
        per = v['usec'] / N
        if name != 'evalsha':
            inner += per
        print(f'  {name:12s} {v["calls"] / N:5.2f} calls  {per:7.2f} µs  ({v["usec_per_call"]:.2f} µs/call)')
    ev = stats.get('cmdstat_evalsha', {'usec': 0})['usec'] / N
    print(f'  scripts: {ev:.1f} µs, of which the commands they call {inner:.1f} µs and the scripts themselves {ev - inner:.1f} µs')

def main():
    port = free_port()
    d = tempfile.mkdtemp()
    srv = subprocess.Popen(['redis-server', '--port', str(port), '--save', '', '--appendonly', 'no', '--dir', d],
                           stdout=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=port)
        for _ in range(100):
            try:
                r.ping(); break
            except redis.ConnectionError:
                time.sleep(0.05)
        create = r.script_load(open(os.path.join(ROOT, 'src/ledger/create.lua')).read())
        trans = r.script_load(transition_src())
        empty = r.script_load("return {'ok', 'x', '1', ''}")
        run(r, create, trans, 'create.lua + transition.lua x 2')
        run(r, empty, empty, 'a script that does nothing, same arguments')
        cpu = r.info('cpu')
        print(f'(redis-server CPU over both runs: {cpu["used_cpu_user"] + cpu["used_cpu_sys"]:.2f} s)')
    finally:
        srv.terminate(); srv.wait()

if __name__ == '__main__':
    main()
