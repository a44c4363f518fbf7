#!/usr/bin/env python3
"""`make bench-generate`: our text generation against llama.cpp on the same
GGUF files, the same token ids and the same threads, with transformers for
scale and our HTTP server for concurrent streams and the prefix cache.
Prints a table with ratios and PASS/FAIL against the goals, and writes
.cache/bench-generate/results.json and results.md.

Model: SmolLM2-135M-Instruct, the Q4_1 GGUF as published
(scripts/fetch-smollm2.sh) and Q8_0 and f16 files made from it here with
gguf-py (dequantized, then stored again; cached in .cache/bench-generate).

Measurements (greedy, token ids given, so every engine computes the same
tokens; times are medians over --repeat rounds, engines taking turns so
that other work on the machine weighs on all of them alike):
  prefill   one forward over a 512-token prompt (the first 512 tokens of
            data/corpus.txt), tokens/s
  decode    --decode greedy tokens after it, one forward each, tokens/s
  streams   in-process: S sessions decoding in one batched forward per step
            (the server's continuous batching path) against one session,
            aggregate tokens/s; llama.cpp the same with S sequences
  prefix    in-process: a 1,000-token prefix, then a second prompt with the
            same prefix: time to the first token of each
  server    through `ipfs-accelerate serve` (OpenAI /v1/completions and
            /v1/chat/completions, streaming): one stream, S concurrent
            streams, and the 1,000-token system prompt twice (TTFT)
  RSS       ours (ia_gen_bench) against file size + KV cache + 64 MiB

Engines: ours (bench/gen_bench.c: ia__session_eval, in-process timing);
llama.cpp through its C API (bench/llama_gen_bench.c), built against the
llama.h of the exact release of the library it links: node-llama-cpp's
prebuilt binaries (npm) and llama-cpp-python's build from source in the
bench venv (native); transformers (bench/generate_hf.py, f32).

Usage: bench/generate.py --gen-bench BIN --cli BIN --model Q4_1.gguf
                         [--node-llama-cpp DIR] [--threads T] [--repeat R]
                         [--decode N] [--streams S] [--quants q4_1,q8_0,f16]
                         [--engines ours,llama-npm,llama-native,transformers,server]
"""
import argparse, glob, http.client, json, os, re, signal, statistics, subprocess, sys, tempfile
import threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--gen-bench", required=True)
ap.add_argument("--cli", required=True)
ap.add_argument("--model", required=True, help="the Q4_1 GGUF")
ap.add_argument("--node-llama-cpp", help="node-llama-cpp's install folder (tests/decoder/llamacpp_setup.sh)")
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--decode", type=int, default=128)
ap.add_argument("--prompt-tokens", type=int, default=512)
ap.add_argument("--prefix-tokens", type=int, default=1000)
ap.add_argument("--streams", type=int, default=8)
ap.add_argument("--stream-decode", type=int, default=64, help="tokens per stream in the streams runs")
ap.add_argument("--hf-decode", type=int, default=32, help="decode tokens for transformers (slow)")
ap.add_argument("--quants", default="q4_1,q8_0,f16")
ap.add_argument("--engines", default="ours,llama-npm,llama-native,transformers,server")
a = ap.parse_args()
engines = a.engines.split(",")
T = a.threads

work = os.path.join(ROOT, ".cache", "bench-generate")
os.makedirs(os.path.join(work, "work"), exist_ok=True)
os.makedirs(os.path.join(work, "models"), exist_ok=True)
env = dict(os.environ, OMP_NUM_THREADS=str(T), MKL_NUM_THREADS=str(T), TOKENIZERS_PARALLELISM="false")
notes = []  # what could not be measured, and why
log = lambda s: sys.stderr.write(s + "\n")


def run(cmd, what, timeout=600):
    """One JSON object from the last line of cmd's stdout, or None (noted)."""
    t = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        notes.append(f"{what}: timed out after {timeout} s")
        log(f"  {what}: timed out")
        return None
    if p.returncode:
        tail = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        notes.append(f"{what}: failed (exit {p.returncode}): {tail}")
        log(f"  {what}: FAILED: {p.stderr[-2000:]}")
        return None
    log(f"  {what}: {time.time() - t:.0f}s")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---- model files -----------------------------------------------------------
def make_variant(src, dst, kind):
    """src's tensors dequantized (gguf-py) and stored as f16 or Q8_0; vectors
    f32; the same metadata but general.file_type."""
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
    from gguf.quants import dequantize, quantize
    r = GGUFReader(src)
    w = GGUFWriter(dst + ".tmp", r.fields["general.architecture"].contents())
    for k, f in r.fields.items():
        if k.startswith("GGUF.") or k == "general.architecture":
            continue
        v = {"f16": 1, "q8_0": 7}[kind] if k == "general.file_type" else f.contents()
        if f.types[0] == GGUFValueType.ARRAY:
            w.add_key_value(k, v, f.types[0], sub_type=f.types[-1])
        else:
            w.add_key_value(k, v, f.types[0])
    for t in r.tensors:
        x = dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(d) for d in reversed(t.shape)])
        if x.ndim == 1:
            w.add_tensor(t.name, x)
        elif kind == "f16":
            w.add_tensor(t.name, x.astype(np.float16))
        else:
            w.add_tensor(t.name, quantize(x, GGMLQuantizationType.Q8_0), raw_dtype=GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(dst + ".tmp", dst)


base = os.path.basename(a.model).replace(".Q4_1.gguf", "")
files = {}
for q in a.quants.split(","):
    if q == "q4_1":
        files[q] = a.model
        continue
    if q not in ("q8_0", "f16"):
        raise SystemExit(f"bench-generate: unknown quant {q} (q4_1, q8_0, f16)")
    dst = os.path.join(work, "models", f"{base}.{q.upper()}.gguf")
    if not os.path.exists(dst):
        log(f"making {dst} from the Q4_1 file (gguf-py)")
        make_variant(a.model, dst, q)
    files[q] = dst

# ---- prompts ---------------------------------------------------------------
# Token ids from our tokenizer (the same in all three files); every engine
# gets these ids. The 1,000-token system prompt for the server is text.
ids512 = os.path.join(work, "work", f"prompt-{a.prompt_tokens}.ids")
idspre = os.path.join(work, "work", f"prompt-{a.prefix_tokens + 32}.ids")
systxt = os.path.join(work, "work", f"system-{a.prefix_tokens}.txt")
corpus = os.path.join(ROOT, "data", "corpus.txt")
tokenize = lambda n, out, text=None: run([a.gen_bench, "--model", a.model, "--tokenize", corpus, "--first", str(n),
                                          "--ids-out", out] + (["--text-out", text] if text else []), "tokenize")
if not tokenize(a.prompt_tokens, ids512) or not tokenize(a.prefix_tokens + 32, idspre):
    raise SystemExit("bench-generate: cannot tokenize the prompt: " + "; ".join(notes))
# the system prompt: a later part of the corpus, so it shares nothing with the
# prompts above
with open(corpus, encoding="utf-8") as f:
    lines = [l for l in f.read().split("\n") if l]
with open(os.path.join(work, "work", "corpus-tail.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(lines[1000:]))
tokenize_tail = [a.gen_bench, "--model", a.model, "--tokenize", os.path.join(work, "work", "corpus-tail.txt"),
                 "--first", str(a.prefix_tokens), "--ids-out", systxt + ".ids", "--text-out", systxt]
run(tokenize_tail, "system prompt")

# ---- llama.cpp builds ------------------------------------------------------
llama_src = os.path.join(ROOT, "bench", "llama_gen_bench.c")


def compile_llama(kind, hdr, libs, rpath):
    out = os.path.join(work, f"llama_gen_bench-{kind}")
    cmd = [os.environ.get("CC", "cc"), "-std=c11", "-O2", "-Wall", "-D_POSIX_C_SOURCE=200809L",
           f"-I{hdr}/include", f"-I{hdr}/ggml/include", llama_src, "-o", out] + libs + [f"-Wl,-rpath,{rpath}"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        notes.append(f"llama.cpp ({kind}): the harness does not compile against its headers: "
                     f"{p.stderr.strip()[-300:]}")
        return None
    return out


def llama_npm():
    """node-llama-cpp's prebuilt llama.cpp; headers from the release source its
    npm package carries (llama/gitRelease.bundle)."""
    nlc = a.node_llama_cpp
    if not nlc:
        notes.append("llama.cpp (npm): node-llama-cpp is not installed (npm unreachable?)")
        return None
    nm = os.path.join(nlc, "node_modules")
    bins = [d for d in glob.glob(os.path.join(nm, "@node-llama-cpp", "linux-*", "bins", "*"))
            if glob.glob(os.path.join(d, "libllama*.so"))]
    if not bins:
        notes.append(f"llama.cpp (npm): no prebuilt libllama under {nm}/@node-llama-cpp")
        return None
    bdir = bins[0]
    meta = json.load(open(os.path.join(bdir, "_nlcBuildMetadata.json")))
    tag = meta["buildOptions"]["llamaCpp"]["release"]
    src_tag = json.load(open(os.path.join(nm, "node-llama-cpp", "llama", "binariesGithubRelease.json")))["release"]
    if tag != src_tag:
        notes.append(f"llama.cpp (npm): binaries of {tag} but the source bundle is {src_tag}; no header match")
        return None
    hdr = os.path.join(work, f"llama.cpp-{tag}")
    if not os.path.exists(os.path.join(hdr, "include", "llama.h")):
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            subprocess.run(["git", "clone", "-q", "--no-checkout",
                            os.path.join(nm, "node-llama-cpp", "llama", "gitRelease.bundle"), tmp + "/src"],
                           check=True, capture_output=True)
            os.makedirs(hdr + ".tmp", exist_ok=True)
            arc = subprocess.run(["git", "-C", tmp + "/src", "archive", "HEAD", "include", "ggml/include"],
                                 check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", hdr + ".tmp"], input=arc, check=True)
            os.replace(hdr + ".tmp", hdr)
    pick = lambda pat: sorted(glob.glob(os.path.join(bdir, pat)))[:1]
    libs = pick("libllama.v*.so") or pick("libllama.so")
    libs += (pick("libggml.v*.so") or pick("libggml.so")) + pick("libggml-base.so")
    binary = compile_llama("npm", hdr, libs, bdir)
    nlc_ver = json.load(open(os.path.join(nm, "node-llama-cpp", "package.json"))).get("version", "?")
    return binary and {"name": "llama-npm", "bin": binary, "args": ["--backends", bdir],
                       "label": f"llama.cpp {tag} (npm prebuilt, node-llama-cpp {nlc_ver})"}


def llama_native():
    """llama-cpp-python's llama.cpp, built from source for this CPU by
    bench/setup.sh; headers from the same sdist's vendor/llama.cpp."""
    libdir = glob.glob(os.path.join(sys.prefix, "lib", "python3*", "site-packages", "llama_cpp", "lib"))
    srcs = glob.glob(os.path.join(sys.prefix, "src", "llama_cpp_python-*", "vendor", "llama.cpp"))
    if not libdir or not srcs or not os.path.exists(os.path.join(libdir[0], "libllama.so")):
        notes.append("llama.cpp (native): llama-cpp-python's build or its sdist is missing from the bench venv")
        return None
    hdr, ld = srcs[0], libdir[0]
    ver = re.search(r"llama_cpp_python-([^/]+)/", hdr).group(1)
    cm = open(os.path.join(hdr, "CMakeLists.txt")).read()
    lv = ".".join(re.search(rf"LLAMA_VERSION_{k} (\d+)", cm).group(1) for k in ("MAJOR", "MINOR", "PATCH")) \
        if "LLAMA_VERSION_MAJOR" in cm else "?"
    binary = compile_llama("native", hdr, [f"-L{ld}", "-lllama", "-lggml", "-lggml-base"], ld)
    return binary and {"name": "llama-native", "bin": binary, "args": [],
                       "label": f"llama.cpp {lv} (llama-cpp-python {ver}, built here, native)"}


llamas = []
if "llama-npm" in engines:
    llamas.append(llama_npm())
if "llama-native" in engines:
    llamas.append(llama_native())
llamas = [x for x in llamas if x]

# ---- single stream: prefill and decode -------------------------------------
load_before = os.getloadavg()
results = {"machine": {}, "single": {}, "streams": {}, "prefix": {}, "server": {}, "notes": notes}
common = ["--ids", ids512, "--decode", str(a.decode), "--repeat", "1", "--threads", str(T)]
jobs = []
if "ours" in engines:
    jobs.append(("ours", lambda m: [a.gen_bench, "--model", m] + common))
for l in llamas:
    jobs.append((l["name"], lambda m, l=l: [l["bin"], "--model", m] + common + l["args"]))
for q, path in files.items():
    log(f"{q}: {path}")
    got = {n: [] for n, _ in jobs}
    for rnd in range(a.repeat):
        for name, cmd in jobs:
            r = run(cmd(path), f"{q} {name} round {rnd + 1}")
            if r:
                got[name].append(r)
    for name, rs in got.items():
        if rs:
            out = dict(rs[0])
            out["prefill_s"] = [t for r in rs for t in r["prefill_s"]]
            out["decode_s"] = [t for r in rs for t in r["decode_s"]]
            out["max_rss_kb"] = max(r["max_rss_kb"] for r in rs)
            results["single"].setdefault(q, {})[name] = out

if "transformers" in engines:
    log("transformers (f32, dequantized from the Q4_1 file)")
    r = run([sys.executable, os.path.join(ROOT, "bench", "generate_hf.py"), a.model, ids512, "--decode",
             str(a.hf_decode), "--repeat", str(max(2, a.repeat - 1)), "--threads", str(T)], "transformers")
    if r:
        results["single"].setdefault("hf", {})["transformers"] = r

# ---- in-process streams and prefix -----------------------------------------
sq = "q4_1" if "q4_1" in files else next(iter(files))
log(f"streams ({sq}): 1 and {a.streams} sessions, {a.stream_decode} steps")
sjobs = []
if "ours" in engines:
    sjobs.append(("ours", a.gen_bench, []))
sjobs += [(l["name"], l["bin"], l["args"]) for l in llamas]
for name, binary, extra in sjobs:
    for s in (1, a.streams):
        r = run([binary, "--model", files[sq], "--ids", ids512, "--streams", str(s), "--prompt-tokens", "32",
                 "--decode", str(a.stream_decode), "--repeat", str(max(2, a.repeat - 1)), "--threads", str(T)] +
                extra, f"{name} {s} streams")
        if r:
            results["streams"].setdefault(name, {})[s] = r
if "ours" in engines:
    log(f"prefix cache ({sq}, in-process): {a.prefix_tokens}-token prefix")
    r = run([a.gen_bench, "--model", files[sq], "--ids", idspre, "--prefix", str(a.prefix_tokens), "--repeat",
             str(a.repeat), "--threads", str(T)], "ours prefix")
    if r:
        results["prefix"]["ours"] = r


# ---- the HTTP server ---------------------------------------------------------
class Server:
    """`ipfs-accelerate serve` on a free port; stopped on exit."""

    def __init__(self, model):
        self.port_file = os.path.join(work, "work", "server.port")
        self.err_file = os.path.join(work, "work", "server.log")
        if os.path.exists(self.port_file):
            os.remove(self.port_file)
        self.err = open(self.err_file, "w")
        # the server's own engine threads (all cores but one for a language
        # model: its HTTP threads need one while tokens stream)
        self.p = subprocess.Popen([a.cli, "serve", "--model", f"bench={model}", "--listen", "127.0.0.1:0",
                                   "--port-file", self.port_file],
                                  stdout=subprocess.DEVNULL, stderr=self.err, env=env)
        self.port = None
        deadline = time.time() + 180
        while time.time() < deadline and self.p.poll() is None:
            if os.path.exists(self.port_file) and open(self.port_file).read().strip():
                self.port = int(open(self.port_file).read().strip())
                break
            time.sleep(0.1)
        # the port comes before the models are loaded: wait until the model
        # is listed (/v1/models), or /health says ok where there is no list
        while self.port and time.time() < deadline and self.p.poll() is None:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                c.request("GET", "/v1/models")
                r = c.getresponse()
                body = r.read()
                if r.status == 404:
                    c.request("GET", "/health")
                    r = c.getresponse()
                    r.read()
                    if r.status == 200:
                        break
                elif r.status == 200 and any(m.get("id") == "bench" for m in json.loads(body).get("data", [])):
                    break
                c.close()
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        if self.p.poll() is not None:
            self.port = None

    def why(self):
        self.err.flush()
        lines = [l for l in open(self.err_file).read().splitlines() if l.strip()]
        return lines[-1] if lines else f"exit {self.p.poll()}"

    def hwm_kb(self):
        try:
            for l in open(f"/proc/{self.p.pid}/status"):
                if l.startswith("VmHWM:"):
                    return int(l.split()[1])
        except OSError:
            pass
        return None

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()


def request(port, path, body, stream):
    """POST body; for a stream, the times of the start, the first and the last
    chunk with text, the chunks with text and the usage (stream_options
    include_usage). (status, result or error text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = c.getresponse()
    if resp.status != 200:
        text = resp.read().decode("utf-8", "replace")
        c.close()
        return resp.status, text[:300]
    if not stream:
        out = json.loads(resp.read())
        c.close()
        return 200, {"t_start": t0, "t_end": time.perf_counter(), "usage": out.get("usage") or {}}
    first = last = None
    chunks, usage, times = 0, {}, []
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        ev = json.loads(data)
        now = time.perf_counter()
        if ev.get("usage"):
            usage = ev["usage"]
        for ch in ev.get("choices") or []:
            text = ch.get("text") if "text" in ch else (ch.get("delta") or {}).get("content")
            if text:
                chunks += 1
                first = first or now
                last = now
                times.append(now)
    c.close()
    return 200, {"t_start": t0, "t_first": first, "t_last": last, "chunks": chunks, "usage": usage, "times": times}


def n_tokens(r):
    return (r["usage"] or {}).get("completion_tokens") or r["chunks"]


def server_bench():
    res = results["server"]
    srv = Server(files[sq])
    try:
        if not srv.port:
            res["error"] = f"the server did not start with a GGUF decoder: {srv.why()}"
            return
        port = srv.port
        stream_prompts = [" ".join(lines[40 + 3 * i: 43 + 3 * i]) for i in range(a.streams)]
        body = lambda prompt, n: {"model": "bench", "prompt": prompt, "max_tokens": n, "temperature": 0,
                                  "stream": True, "ignore_eos": True, "stream_options": {"include_usage": True}}
        st, r = request(port, "/v1/completions", body(stream_prompts[0], 8), True)  # probe and warm-up
        if st == 404:
            res["completions"] = f"server has no /v1/completions yet (404: {r[:120]})"
        elif st != 200:
            res["completions"] = f"/v1/completions answered {st}: {r}"
        else:
            # one stream, then S at once, alternating, R rounds
            one, many, both = [], [], []
            for rnd in range(a.repeat):
                st, r = request(port, "/v1/completions", body(stream_prompts[0], a.stream_decode), True)
                if st == 200 and r["t_first"] and r["t_last"] > r["t_first"]:
                    one.append((n_tokens(r) - 1) / (r["t_last"] - r["t_first"]))
                outs = [None] * a.streams
                go = threading.Barrier(a.streams)

                def worker(i):
                    go.wait()
                    outs[i] = request(port, "/v1/completions", body(stream_prompts[i], a.stream_decode), True)
                ths = [threading.Thread(target=worker, args=(i,)) for i in range(a.streams)]
                for th in ths:
                    th.start()
                for th in ths:
                    th.join()
                ok = [r for st, r in outs if st == 200 and r["t_first"]]
                if len(ok) == a.streams:
                    span = max(r["t_last"] for r in ok) - min(r["t_first"] for r in ok)
                    many.append(sum(n_tokens(r) - 1 for r in ok) / span)
                    # while every stream decodes: from the last first token to
                    # the first last one (the others' prompts are computed
                    # before, in steps that also carry the early streams)
                    w0, w1 = max(r["t_first"] for r in ok), min(r["t_last"] for r in ok)
                    if w1 > w0:
                        both.append(sum(sum(1 for t in r["times"] if w0 < t <= w1) for r in ok) / (w1 - w0))
                    res.setdefault("stream_tokens", [n_tokens(r) for r in ok])
                else:
                    res["streams_error"] = "; ".join(str(r) for st, r in outs if st != 200)[:300]
            if one:
                res["one_stream_tps"] = one
            if many:
                res["many_streams_tps"] = many
            if both:
                res["all_decoding_tps"] = both
        # the prefix cache: the same long system message, two user messages
        system = open(systxt, encoding="utf-8").read()
        chat = lambda sys_text, user: {"model": "bench", "messages": [{"role": "system", "content": sys_text},
                                                                      {"role": "user", "content": user}],
                                       "max_tokens": 4, "temperature": 0, "stream": True, "ignore_eos": True,
                                       "stream_options": {"include_usage": True}}
        st, r = request(port, "/v1/chat/completions", chat("You are brief.", "Hello"), True)  # warm-up
        if st == 404:
            res["chat"] = f"server has no /v1/chat/completions yet (404: {r[:120]})"
        elif st != 200:
            res["chat"] = f"/v1/chat/completions answered {st}: {r}"
        else:
            pairs = []
            for rnd in range(a.repeat):
                s_text = f"Session {rnd + 1}. {system}"  # differs from the rounds before at the start
                st1, r1 = request(port, "/v1/chat/completions", chat(s_text, "What is this text about?"), True)
                st2, r2 = request(port, "/v1/chat/completions", chat(s_text, "Summarize it in one line."), True)
                if st1 == st2 == 200 and r1["t_first"] and r2["t_first"]:
                    u1, u2 = r1["usage"] or {}, r2["usage"] or {}
                    pairs.append({"first_ttft_s": r1["t_first"] - r1["t_start"],
                                  "second_ttft_s": r2["t_first"] - r2["t_start"],
                                  "prompt_tokens": u1.get("prompt_tokens"),
                                  "cached_tokens": (u2.get("prompt_tokens_details") or {}).get("cached_tokens")})
            res["prefix"] = pairs
        res["vm_hwm_kb"] = srv.hwm_kb()
    finally:
        srv.stop()


if "server" in engines:
    log(f"server ({sq}): {a.cli} serve")
    try:
        server_bench()
    except Exception as e:  # a half-written server must not lose the rest
        results["server"]["error"] = f"{type(e).__name__}: {e}"
    for k in ("error", "completions", "chat", "streams_error"):
        if k in results["server"]:
            notes.append(f"server: {results['server'][k]}")
load_after = os.getloadavg()

# ---- table -----------------------------------------------------------------
med = statistics.median
cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True)
            .stdout.splitlines() if l.startswith("Model name")), "unknown CPU")
results["machine"] = {"cpu": cpu, "cores": os.cpu_count(), "threads": T, "loadavg": [load_before, load_after]}
label = {"ours": "ipfs-accelerate", "transformers": "transformers (f32, dequantized)"}
label.update({l["name"]: l["label"] for l in llamas})
rate = lambda r, k, n: n / med(r[k]) if r and r.get(k) else None
fmt = lambda x, d=0: "-" if x is None else f"{x:.{d}f}"
MiB = 1 << 20
lines_out = []
P = lines_out.append
P(f"Machine: {cpu}, {os.cpu_count()} cores, {T} threads per engine. Model {base}; prompt "
  f"{a.prompt_tokens} tokens (data/corpus.txt), then {a.decode} greedy tokens; medians of {a.repeat} rounds, "
  f"engines taking turns. Load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f} "
  f"(other work on the machine slows every engine; compare ratios from one run).")
P("")
if results["single"]:
    P("| file | engine | prefill tok/s | decode tok/s | peak RSS MiB | greedy tokens as ours |")
    P("|---|---|---:|---:|---:|---:|")
for q, rs in results["single"].items():
    ours_gen = (rs.get("ours") or {}).get("first_tokens") or []
    for name, r in rs.items():
        g = r.get("first_tokens") or []
        same = next((i for i, (x, y) in enumerate(zip(g, ours_gen)) if x != y), min(len(g), len(ours_gen)))
        P(f"| {'Q4_1, as f32' if q == 'hf' else q.upper()} | {label.get(name, name)} | "
          f"{fmt(rate(r, 'prefill_s', r['prompt_tokens']))} | {fmt(rate(r, 'decode_s', r['decode_tokens']), 1)} | "
          f"{r['max_rss_kb'] / 1024:.0f} | {'ref' if name == 'ours' else f'{same}/{min(len(g), len(ours_gen))}' if ours_gen else '-'} |")
if results["single"]:
    P("")

goals = []  # (what, value text, goal text, pass or None)
if llamas and any("ours" in rs for rs in results["single"].values()):
    P("Ratios ours / llama.cpp (higher is better for us):")
    P("")
    P("| file | llama.cpp | prefill | decode |")
    P("|---|---|---:|---:|")
    for q, rs in results["single"].items():
        o = rs.get("ours")
        if q == "hf" or not o:
            continue
        best = {}
        for l in llamas:
            r = rs.get(l["name"])
            if not r:
                continue
            rp = rate(o, "prefill_s", o["prompt_tokens"]) / rate(r, "prefill_s", r["prompt_tokens"])
            rd = rate(o, "decode_s", o["decode_tokens"]) / rate(r, "decode_s", r["decode_tokens"])
            P(f"| {q.upper()} | {l['label']} | {rp:.2f}x | {rd:.2f}x |")
            best["p"] = min(best.get("p", rp), rp)
            best["d"] = min(best.get("d", rd), rd)
        if best:
            goals.append((f"prefill {a.prompt_tokens} tokens, {q.upper()}, ours/llama.cpp", f"{best['p']:.2f}x",
                          ">= 1.2x", best["p"] >= 1.2))
            goals.append((f"decode, one stream, {q.upper()}, ours/llama.cpp", f"{best['d']:.2f}x", ">= 1.1x",
                          best["d"] >= 1.1))
    P("")
hf = results["single"].get("hf", {}).get("transformers")
o4 = results["single"].get(sq, {}).get("ours")
if hf and o4:
    P(f"transformers {hf.get('version', '')} (torch {hf.get('torch', '')}, f32, {hf['decode_tokens']} decode tokens): "
      f"ours {sq.upper()} / transformers: prefill "
      f"{rate(o4, 'prefill_s', o4['prompt_tokens']) / rate(hf, 'prefill_s', hf['prompt_tokens']):.1f}x, decode "
      f"{rate(o4, 'decode_s', o4['decode_tokens']) / rate(hf, 'decode_s', hf['decode_tokens']):.1f}x.")
    P("")

if results["streams"]:
    P(f"Streams in-process ({sq.upper()}, {a.stream_decode} steps, 32-token prompts; aggregate decode tok/s):")
    P("")
    P(f"| engine | 1 stream | {a.streams} streams | ratio |")
    P("|---|---:|---:|---:|")
    for name, by in results["streams"].items():
        r1, rn = by.get(1), by.get(a.streams)
        t1 = rate(r1, "decode_s", r1["decode_tokens"]) if r1 else None
        tn = rate(rn, "decode_s", rn["decode_tokens"] * a.streams) if rn else None
        P(f"| {label.get(name, name)} | {fmt(t1, 1)} | {fmt(tn, 1)} | "
          f"{f'{tn / t1:.2f}x' if t1 and tn else '-'} |")
        if name == "ours" and t1 and tn:
            goals.append((f"{a.streams} streams / one, in-process (engine path)", f"{tn / t1:.2f}x", ">= 4x "
                          "(goal is for the server)", None))
    P("")

sv = results["server"]
if sv.get("one_stream_tps") and sv.get("many_streams_tps"):
    one, many = med(sv["one_stream_tps"]), med(sv["many_streams_tps"])
    both = med(sv["all_decoding_tps"]) if sv.get("all_decoding_tps") else None
    P(f"Server (its default engine threads: all cores but one), /v1/completions streaming, "
      f"{a.stream_decode} tokens each, ignore_eos: one stream {one:.1f} tok/s; {a.streams} concurrent streams "
      + (f"{both:.1f} tok/s aggregate while all decode (the tokens between the last stream's first token and the "
         f"first stream's last, over that time), " if both else "")
      + f"{many:.1f} tok/s from the first first token to the last token (that span also holds the later streams' "
      f"prompts, computed in the steps of the first ones' decoding; in the first round none is cached).")
    if both:
        goals.append((f"server: {a.streams} streams decoding, aggregate / one stream", f"{both / one:.2f}x", ">= 4x",
                      both / one >= 4))
    goals.append((f"server: {a.streams} streams, first to last token, aggregate / one stream", f"{many / one:.2f}x",
                  ">= 4x" if not both else "info", many / one >= 4 if not both else None))
elif "server" in engines:
    P(f"Server, concurrent streams: not measured ({sv.get('error') or sv.get('completions') or sv.get('streams_error') or 'no result'}).")
if sv.get("prefix"):
    ratios = [p["second_ttft_s"] / p["first_ttft_s"] for p in sv["prefix"]]
    p0 = sv["prefix"][0]
    P(f"Server, prefix cache (chat, {p0.get('prompt_tokens')} prompt tokens, the same system message): TTFT first "
      f"{med(p['first_ttft_s'] for p in sv['prefix']) * 1e3:.0f} ms, second "
      f"{med(p['second_ttft_s'] for p in sv['prefix']) * 1e3:.0f} ms (cached_tokens {p0.get('cached_tokens')}).")
    goals.append(("server: prefix cache, second TTFT / first", f"{med(ratios):.2f}", "<= 0.20", med(ratios) <= 0.2))
elif "server" in engines:
    P(f"Server, prefix cache: not measured ({sv.get('error') or sv.get('chat') or 'no result'}).")
if sv.get("vm_hwm_kb"):
    P(f"Server peak RSS (VmHWM): {sv['vm_hwm_kb'] / 1024:.0f} MiB.")
pr = results["prefix"].get("ours")
if pr:
    f1, f2 = med(pr["first_ttft_s"]), med(pr["second_ttft_s"])
    P(f"Prefix cache in-process (one session, {pr['prefix_tokens']}-token prefix + 16 tokens, {pr['cached_tokens']} "
      f"cached): first token after {f1 * 1e3:.0f} ms, then {f2 * 1e3:.0f} ms.")
    goals.append(("prefix cache, second TTFT / first, in-process", f"{f2 / f1:.2f}",
                  "<= 0.20 (goal is for the server)", None))
P("")
for q, rs in results["single"].items():
    o = rs.get("ours")
    if q == "hf" or not o or o.get("kv_bytes") is None:
        continue
    kv = o["kv_bytes"]  # the session's caches as allocated, in their type (f16 on the CPU)
    bound = o["file_bytes"] + kv + 64 * MiB
    goals.append((f"peak RSS, {q.upper()} (n_ctx {o['n_ctx']})", f"{o['max_rss_kb'] * 1024 / MiB:.0f} MiB",
                  f"<= {bound / MiB:.0f} MiB (file {o['file_bytes'] / MiB:.0f} + KV {kv / MiB:.0f} + 64)",
                  o["max_rss_kb"] * 1024 <= bound))
if goals:
    P("Goals (ours against the faster llama.cpp build of each measure):")
    P("")
    P("| goal | measured | target | |")
    P("|---|---:|---|---|")
for what, v, g, ok in goals:
    P(f"| {what} | {v} | {g} | {'PASS' if ok else 'FAIL' if ok is not None else 'info'} |")
if notes:
    P("")
    P("Not measured / notes:")
    for n in notes:
        P(f"- {n}")
infos = [(l["label"], results["single"].get(sq, {}).get(l["name"], {}).get("system_info")) for l in llamas]
if any(i for _, i in infos):
    P("")
    P("llama.cpp's CPU backends (llama_print_system_info):")
    for lab, i in infos:
        if i:
            P(f"- {lab}: {i.strip()}")
table = "\n".join(lines_out)
print(table)
results["table"] = table
with open(os.path.join(work, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
with open(os.path.join(work, "results.md"), "w") as f:
    f.write(table + "\n")
