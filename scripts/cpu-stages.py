#!/usr/bin/env python3
# Summarises a perf CPU profile of the archiver (docs/performance.md, "CPU per row (issue 19)"):
#   perf record -F 499 -g ... (µs per row assume 499 Hz); perf script -i pass.perf -F comm,tid,ip,sym,dso > pass.script
#   scripts/cpu-stages.py pass.script [N] [rows]
"""CPU profile summary from `perf script -F comm,tid,ip,sym,dso`: where the archiver's CPU went, by stage
(first matching frame from the leaf up) and inclusive per key frame."""
import re, sys, collections
samples = []
cur = None
for line in open(sys.argv[1], errors='replace'):
    if not line.startswith('\t') and line.strip():
        cur = {'comm': line.split(' ')[0] if not line.startswith('.NET') else line[:15].strip(), 'frames': []}
        samples.append(cur)
    elif line.startswith('\t') and cur is not None:
        m = re.match(r'\s*[0-9a-f]+ (.*) \((.*)\)\s*$', line)
        if m: cur['frames'].append((m.group(1), m.group(2)))
total = len(samples)
# Stage: walk from the leaf up; the first frame matching a stage names it. JIT/GC (native runtime) frames of libclrjit
# count as JIT; libcoreclr is attributed to the first managed stage above it (allocation/GC/casts on behalf of it).
stages = [
  ('JIT (tier-0 and tier-1 compiles)', lambda s, d: 'libclrjit' in d),
  ('map: RecordMapper (validate, decode, JSON check)', lambda s, d: 'RecordMapper::' in s or 'RawPayload::' in s),
  ('redis: HGETALL reply parse (RESPite, RedisValue, HashEntry[])', lambda s, d: 'RESPite' in s or 'ResultProcessor' in s or 'RespReader' in s or 'RedisValue' in s),
  ('redis: other client work (send, connection)', lambda s, d: 'StackExchange.Redis' in s),
  ('copy: PageWriter.CopyAsync + Npgsql binary import', lambda s, d: 'CopyAsync' in s or 'NpgsqlBinaryImporter' in s or 'PgWriter' in s or 'NpgsqlParameter' in s),
  ('sink: dedupe, bookkeeping commands', lambda s, d: 'PageWriter' in s or 'DeadLetterStore' in s or 'CheckpointStore' in s),
  ('npgsql: other (read, batches)', lambda s, d: 'Npgsql' in s),
  ('pipeline/async/Polly glue', lambda s, d: 'Polly' in s or 'PagePipeline' in s or 'EntityPass' in s),
]
by_stage = collections.Counter(); by_comm = collections.Counter(); incl = collections.Counter(); excl = collections.Counter()
for smp in samples:
    fr = smp['frames']
    by_comm[smp['comm']] += 1
    st = None
    for s, d in fr:
        for name, f in stages:
            if f(s, d): st = name; break
        if st: break
    if st is None:
        d0 = fr[0][1] if fr else '?'
        st = 'other: ' + ('GC/runtime (libcoreclr, no managed caller matched)' if 'libcoreclr' in d0 else 'kernel' if 'kernel' in d0 else 'startup/other managed+native')
    by_stage[st] += 1
    seen = set()
    for s, d in fr:
        key = re.sub(r'\[(OptimizedTier1OSR|OptimizedTier1|QuickJitted|Optimized|PreJIT|Instrumented)\]$', '', s)
        key = re.sub(r'\(.*', '', key)[-110:]
        if 'libcoreclr' in d: key = 'libcoreclr.so (GC, allocation, casts, stubs; unsymbolised)'
        if 'libclrjit' in d: key = 'libclrjit.so (JIT)'
        if '[unknown]' in s: continue
        if key not in seen: incl[key] += 1; seen.add(key)
    if fr:
        s, d = fr[0]
        key = re.sub(r'\[(OptimizedTier1OSR|OptimizedTier1|QuickJitted|Optimized|PreJIT|Instrumented)\]$', '', s); key = re.sub(r'\(.*', '', key)[-110:]
        if 'libcoreclr' in d: key = 'libcoreclr.so (GC, allocation, casts, stubs; unsymbolised)'
        if 'libclrjit' in d: key = 'libclrjit.so (JIT)'
        excl[key] += 1
print(f'samples: {total}')
rows = float(sys.argv[3]) if len(sys.argv) > 3 else 315750
us = lambda v: v / 499 / rows * 1e6
print(f'\n| stage (first matching frame from the leaf) | share | µs/row (of {us(total):.1f}) |\n|---|---|---|')
for k, v in by_stage.most_common(): print(f'| {k} | {100*v/total:.1f}% | {us(v):.1f} |')
n = int(sys.argv[2]) if len(sys.argv) > 2 else 25
print('\n| top exclusive frames | self |\n|---|---|')
for k, v in excl.most_common(n): print(f'| `{k.strip()}` | {100*v/total:.1f}% |')
print('\n| top inclusive frames (app and library, no thread-pool/async plumbing) | inclusive |\n|---|---|')
skip = re.compile(r'ExecutionContext|ThreadPool|AsyncTaskMethodBuilder|AsyncStateMachineBox|StateMachineBox|Task`1|Task::|TaskContinuation|WorkerThread|Thread::|Polly|DependencyCalls|SocketAsyncEngine|PollGC|\bstart_thread|clone|Monitor|WhenAll|ValueTaskSource|ThreadStart|^\s*0x|StartCallback|ManagedThreadBase|RunContinuations|Dispatch')
k2 = [(k, v) for k, v in incl.most_common() if not skip.search(k)]
for k, v in k2[:n]: print(f'| `{k.strip()}` | {100*v/total:.1f}% |')
