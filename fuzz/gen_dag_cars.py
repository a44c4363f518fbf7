#!/usr/bin/env python3
"""Structured seeds for fuzz_car: CARs whose blocks all verify but whose
DAGs are hostile (wrong blocksizes, bad UnixFS types, odd link names such
as "../x" or "b/c", bad HAMT fanouts, missing blocks, shuffled order), so
the exporter behind the CAR reader gets exercised, not just the hashing.
usage: gen_dag_cars.py OUT_DIR [COUNT] [SEED]
"""
import sys
import hashlib, os, random, struct
out_dir = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 5)
os.makedirs(out_dir, exist_ok=True)
def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7f) | 0x80); n >>= 7
    out.append(n); return bytes(out)
def field(num, wt, payload):
    tag = varint(num << 3 | wt)
    if wt == 0: return tag + varint(payload)
    return tag + varint(len(payload)) + payload
def cid(codec, data, v=1):
    mh = b'\x12\x20' + hashlib.sha256(data).digest()
    if v == 0: return mh
    return b'\x01' + varint(codec) + mh
def unixfs(t, data=None, filesize=None, bs=(), hashtype=None, fanout=None):
    m = field(1, 0, t)
    if data is not None: m += field(2, 2, data)
    if filesize is not None: m += field(3, 0, filesize)
    for b in bs: m += field(4, 0, b)
    if hashtype is not None: m += field(5, 0, hashtype)
    if fanout is not None: m += field(6, 0, fanout)
    return m
def pbnode(links, data):
    out = b''
    for (c, name, tsize) in links:
        l = field(1, 2, c)
        if name is not None: l += field(2, 2, name)
        if tsize is not None: l += field(3, 0, tsize)
        out += field(2, 2, l)
    if data is not None: out += field(1, 2, data)
    return out
def car(roots, blocks):
    hdr = b'\xa2\x65roots' + bytes([0x80 | len(roots)])
    for r in roots:
        b = b'\x00' + r
        hdr += b'\xd8\x2a' + (bytes([0x58, len(b)]) if len(b) < 256 else b'') + b
    hdr += b'\x67version\x01'
    out = varint(len(hdr)) + hdr
    for c, d in blocks: out += varint(len(c) + len(d)) + c + d
    return out
for k in range(count):
    blocks = []
    for i in range(rnd.randint(1, 14)):
        kind = rnd.random()
        if kind < 0.3 or not blocks:
            d = rnd.randbytes(rnd.randint(0, 40))
            if rnd.random() < 0.5:
                c = cid(0x55, d)
            else:
                t = rnd.choice([0, 2, 2, 1, 4, 5, 3, 9])
                d = pbnode([], unixfs(t, d, rnd.choice([None, len(d), rnd.randint(0, 99)])))
                c = cid(0x70, d, rnd.choice([0, 1]))
        else:
            n = rnd.randint(1, 6)
            links = []
            for _ in range(n):
                cc, dd = rnd.choice(blocks)
                name = rnd.choice([None, b'', b'a', b'../x', b'b/c', b'.', bytes([rnd.randrange(256)]) * 2, b'%02X' % rnd.randrange(256), b'%02Xname' % rnd.randrange(256)])
                links.append((cc, name, rnd.choice([None, len(dd), rnd.randint(0, 1 << 40)])))
            t = rnd.choice([1, 2, 2, 0, 5, 5])
            bs = [rnd.choice([0, 1, 10, 40, 1 << 33]) for _ in range(rnd.choice([n, n, n - 1, n + 1]))]
            if t == 5:
                data = unixfs(5, bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 1, 32]))), None, (), rnd.choice([0x22, 0x22, 1]), rnd.choice([256, 16, 3, 0, 1 << 20]))
            else:
                data = unixfs(t, rnd.choice([None, b'xy']), rnd.choice([None, sum(bs), 5]), bs)
            d = pbnode(links, data)
            c = cid(0x70, d, rnd.choice([0, 1]))
        blocks.append((c, d))
    roots = [blocks[-1][0]] + ([rnd.choice(blocks)[0]] if rnd.random() < 0.3 else [])
    order = blocks[:] if rnd.random() < 0.7 else rnd.sample(blocks, len(blocks))
    if rnd.random() < 0.2 and len(order) > 1: order.pop(rnd.randrange(len(order)))
    open(os.path.join(out_dir, f'dag{k}.car'), 'wb').write(car(roots, order))
