"""serve --config FILE: the models of its server.models list, routed by the
request's `model`, listed by /v1/models with their tasks; an entry's own
max_seq_length; --model on top (one of an entry's name replaces it, others
are added); server.models from the environment; and the errors of bad
entries, each naming the file, the entry's index and the field.

Usage: test_serve_config.py IPFS_ACCELERATE SYNTH_MODELS_DIR"""
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvutil import Checker, Server  # noqa: E402

BIN, SYNTH = sys.argv[1], sys.argv[2]
TINY, MAXRELU = os.path.join(SYNTH, "tiny-f32"), os.path.join(SYNTH, "tiny-f16-max-relu")
CLS = os.path.join(SYNTH, "tiny-bf16-prefix-sharded-cls")
t = Checker("server_config")
check = t.check
tmp = tempfile.mkdtemp(prefix="ia-serve-config-")
TEXT = "the models of a configuration file"


def write(name, obj):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def cli_embed(model):
    out = subprocess.run([BIN, "embed", "-q", "--model", model, "--text", TEXT], check=True,
                         capture_output=True).stdout
    return json.loads(out)["embedding"]


def close(a, b):
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-6) for x, y in zip(a, b))


def embed(s, model):
    st, _, body = s.post("/v1/embeddings", {"input": TEXT, "model": model})
    return body["data"][0]["embedding"] if st == 200 else (st, body)


ref = {TINY: cli_embed(TINY), MAXRELU: cli_embed(MAXRELU), CLS: cli_embed(CLS)}

# ---- two models from the file, routed by name; an entry's max_seq_length
cfg = write("two.json", {"server": {"models": [
    {"name": "dense", "path": TINY},
    {"name": "maxrelu", "path": MAXRELU, "max_seq_length": 16}]}})
s = Server(BIN, [], "--config", cfg)
try:
    st, _, body = s.get("/v1/models")
    models = {m["id"]: m for m in body["data"]} if st == 200 else {}
    check("/v1/models lists both entries, in order", [m["id"] for m in body.get("data", [])] == ["dense", "maxrelu"],
          body)
    check("/v1/models: their tasks", all(m.get("task") == "embeddings" for m in models.values()), body)
    check("the entry's max_seq_length", models.get("maxrelu", {}).get("max_model_len") == 16, body)
    check("the other keeps its model's", models.get("dense", {}).get("max_model_len") == 256, body)
    check("model dense: its vectors", close(embed(s, "dense"), ref[TINY]))
    check("model maxrelu: its vectors", close(embed(s, "maxrelu"), ref[MAXRELU]))
    st, _, body = s.post("/v1/embeddings", {"input": TEXT, "model": "nope"})
    check("an unknown model: 404", st == 404, (st, body))
finally:
    check("server exits 0", s.stop() == 0, s.output()[-2000:])

# ---- --model on top: one of an entry's name replaces it, another is added
s = Server(BIN, ["dense=" + CLS, "extra=" + TINY], "--config", cfg)
try:
    st, _, body = s.get("/v1/models")
    check("--model dense replaces the entry where it stands; extra is added",
          [m["id"] for m in body.get("data", [])] == ["dense", "maxrelu", "extra"], body)
    check("dense is --model's folder now", close(embed(s, "dense"), ref[CLS]))
    check("extra serves its folder", close(embed(s, "extra"), ref[TINY]))
finally:
    check("server exits 0 (--model on top)", s.stop() == 0, s.output()[-2000:])

# ---- from the environment, names from the folders
env = {"IPFS_ACCELERATE_SERVER_MODELS": json.dumps([{"path": TINY}, {"path": MAXRELU}])}
s = Server(BIN, [], env=env)
try:
    st, _, body = s.get("/v1/models")
    check("IPFS_ACCELERATE_SERVER_MODELS: the folders' names",
          [m["id"] for m in body.get("data", [])] == ["tiny-f32", "tiny-f16-max-relu"], body)
finally:
    check("server exits 0 (environment)", s.stop() == 0, s.output()[-2000:])


# ---- bad entries: exit 1, the message names the file, the entry and the field
def fails(what, obj, *want, args=(), env=None):
    path = write("bad.json", obj)
    full_env = dict(os.environ, IPFS_ACCELERATE_HOME=os.path.join(tmp, "home"), **(env or {}))
    r = subprocess.run([BIN, "serve", "--config", path, "--listen", "127.0.0.1:0", *args],
                       capture_output=True, text=True, env=full_env, timeout=60)
    msg = r.stderr.strip()
    check(what + ": exit 1", r.returncode == 1, (r.returncode, msg))
    check(what + ": the message names " + ", ".join(want), all(w.replace("FILE", path) in msg for w in want), msg)


fails("path missing", {"server": {"models": [{"path": TINY}, {"name": "x"}]}},
      "FILE: server.models[1].path: missing")
fails("unknown field", {"server": {"models": [{"path": TINY, "pooling_mode": "cls"}]}},
      "FILE: server.models[0].pooling_mode: unknown field (allowed: path, name, pooling, max_seq_length)")
fails("max_seq_length not a number", {"server": {"models": [{"path": TINY, "max_seq_length": "64"}]}},
      "FILE: server.models[0].max_seq_length: must be a whole number from 2 to 1048576")
fails("a name twice", {"server": {"models": [{"path": TINY, "name": "a"}, {"path": MAXRELU, "name": "a"}]}},
      "FILE: server.models[1].name: \"a\" is also entry 0's name")
fails("two folders of one name", {"server": {"models": [{"path": TINY}, {"path": TINY + "/"}]}},
      "FILE: server.models[1]: its name 'tiny-f32' is also entry 0's")
fails("not a list", {"server": {"models": {"path": TINY}}}, "FILE: server.models: not a JSON list of models")
fails("an entry not an object", {"server": {"models": [TINY]}}, "FILE: server.models[0]: must be an object")
fails("a folder that is not there", {"server": {"models": [{"path": TINY}, {"path": os.path.join(tmp, "none")}]}},
      "FILE: server.models[1]: cannot serve model", "does not exist")
fails("a pooling the model lacks", {"server": {"models": [{"path": TINY, "pooling": "nonsense"}]}},
      "FILE: server.models[0]: cannot serve model", "nonsense")
fails("the environment's, named", "{}", "IPFS_ACCELERATE_SERVER_MODELS: server.models[0].path: missing",
      env={"IPFS_ACCELERATE_SERVER_MODELS": '[{"name": "x"}]'})
r = subprocess.run([BIN, "serve", "--config", os.path.join(tmp, "missing.json")], capture_output=True, text=True)
check("--config of a missing file: exit 1 naming it",
      r.returncode == 1 and "missing.json: no such file" in r.stderr, (r.returncode, r.stderr))
r = subprocess.run([BIN, "serve", "--config", write("empty.json", {})], capture_output=True, text=True,
                   env=dict(os.environ, IPFS_ACCELERATE_HOME=os.path.join(tmp, "home")))
check("no models at all: exit 2 saying what is needed",
      r.returncode == 2 and "server.models" in r.stderr and "--model" in r.stderr, (r.returncode, r.stderr))
sys.exit(t.summary())
