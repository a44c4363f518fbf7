"""Text generation through the server, on the real SmolLM2-135M-Instruct
GGUF served beside an embedding model (routing by `model`):

- the official openai client, streaming and not, gets the CLI's text for
  the same prompt and seed (greedy and sampled), chat and completions;
- usage with cached tokens (the prefix cache: a second request sharing a
  long system prompt computes only its new tokens), n choices, stop
  strings, logprobs, stream_options.include_usage;
- response_format json_object and json_schema give only valid JSON that
  the schema accepts; a schema keyword we do not enforce is a 400;
- concurrent streams (continuous batching) give the texts they give alone;
- a client that disconnects cancels its generation (the metrics show it
  stop), a prompt longer than the context is a 400 naming both lengths,
  and /tokenize, /detokenize, /apply-template, /v1/models, /metrics.

Usage: test_generate.py IPFS_ACCELERATE EMBED_MODEL_DIR FETCH_SMOLLM2_SH
Exit 77 when the GGUF cannot be fetched. IA_TEST_QUICK=1 (sanitizer
builds): fewer and shorter generations."""
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvutil import Checker, Server  # noqa: E402

BIN, EMBED, FETCH = sys.argv[1], sys.argv[2], sys.argv[3]
QUICK = os.environ.get("IA_TEST_QUICK") == "1"
N = 8 if QUICK else 24
f = subprocess.run([FETCH], capture_output=True, text=True)
if f.returncode:
    print("test_generate: SmolLM2 GGUF unavailable (skipped): " + f.stderr.strip()[-300:])
    sys.exit(77)
GGUF = f.stdout.strip()
t = Checker("server_generate")
check = t.check


def cli_generate(prompt, n, *extra):
    out = subprocess.run([BIN, "generate", "--model", GGUF, "--prompt", prompt, "--max-tokens", str(n), "-t", "2",
                          *extra], capture_output=True, text=True, check=True).stdout
    return out[:-1] if out.endswith("\n") else out


def cli_chat(message, n, *extra):
    out = subprocess.run([BIN, "chat", "--model", GGUF, "--max-tokens", str(n), "-t", "2", *extra],
                         input=message + "\n", capture_output=True, text=True, check=True).stdout
    return out.strip("\n")


def metric(s, name):
    _, _, text = s.get("/metrics")
    m = re.search(r"^ipfs_accelerate_%s\{model=\"smol\"\} ([0-9.e+-]+)$" % name, text, re.M)
    return float(m.group(1)) if m else None


PROMPT = "The capital of France is"
greedy_cli = cli_generate(PROMPT, N, "--temperature", "0")
sampled_cli = cli_generate(PROMPT, N, "--temperature", "0.8", "--seed", "5", "--top-k", "40")
chat_cli = cli_chat("What is 2+2?", N, "--temperature", "0")

s = Server(BIN, ["smol=" + GGUF, "embed=" + EMBED], "-j", "2", ready_timeout=120)
try:
    c = openai.OpenAI(base_url=s.url + "/v1", api_key="none", max_retries=0, timeout=300)
    ids = sorted((m.id, m.task) for m in c.models.list())
    check("models: both, with their tasks", ids == [("embed", "embeddings"), ("smol", "text-generation")], ids)

    r = c.completions.create(model="smol", prompt=PROMPT, max_tokens=N, temperature=0)
    check("completions, greedy: the CLI's text", r.choices[0].text == greedy_cli, (r.choices[0].text, greedy_cli))
    check("completions usage", r.usage.prompt_tokens == 5 and r.usage.completion_tokens == N, r.usage)
    r = c.completions.create(model="smol", prompt=PROMPT, max_tokens=N, temperature=0.8, seed=5,
                             extra_body={"top_k": 40})
    check("completions, sampled with a seed: the CLI's text", r.choices[0].text == sampled_cli,
          (r.choices[0].text, sampled_cli))
    parts = [ch.choices[0].text for ch in c.completions.create(model="smol", prompt=PROMPT, max_tokens=N,
                                                                 temperature=0.8, seed=5, stream=True,
                                                                 extra_body={"top_k": 40}) if ch.choices]
    check("completions streamed: the same text", "".join(parts) == sampled_cli and len(parts) > 2,
          (parts, sampled_cli))

    r = c.chat.completions.create(model="smol", messages=[{"role": "user", "content": "What is 2+2?"}],
                                  max_tokens=N, temperature=0)
    check("chat, greedy: the CLI chat's text", r.choices[0].message.content == chat_cli,
          (r.choices[0].message.content, chat_cli))
    check("chat finish_reason", r.choices[0].finish_reason in ("stop", "length"), r.choices[0].finish_reason)
    chunks = list(c.chat.completions.create(model="smol", messages=[{"role": "user", "content": "What is 2+2?"}],
                                            max_tokens=N, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    check("chat streamed: the same text", text == chat_cli, (text, chat_cli))
    check("chat stream: role first, finish_reason last, usage at the end",
          chunks[0].choices[0].delta.role == "assistant" and
          [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] in ("stop", "length") and
          chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0, chunks[-1])
    check("chat usage: the second identical request finds its prompt cached",
          chunks[-1].usage.prompt_tokens_details.cached_tokens >= chunks[-1].usage.prompt_tokens - 1,
          chunks[-1].usage)

    # n choices, stop strings, logprobs
    r = c.completions.create(model="smol", prompt=PROMPT, max_tokens=N, temperature=1.0, seed=1, n=3)
    check("n=3: three choices, not all equal", len(r.choices) == 3 and len({x.text for x in r.choices}) > 1,
          [x.text for x in r.choices])
    r = c.completions.create(model="smol", prompt=PROMPT, max_tokens=N, temperature=0, stop=["."])
    check("stop: the text ends before it", r.choices[0].text == greedy_cli.split(".")[0] and
          r.choices[0].finish_reason == "stop", r.choices[0])
    r = c.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Hi"}], max_tokens=6,
                                  temperature=0, logprobs=True, top_logprobs=3)
    lp = r.choices[0].logprobs.content
    check("logprobs: one per token, greedy takes the top one",
          len(lp) == r.usage.completion_tokens and all(len(e.top_logprobs) == 3 and
                                                        abs(e.logprob - e.top_logprobs[0].logprob) < 1e-4 and
                                                        e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob
                                                        for e in lp), lp[:2])

    # constrained output: only valid JSON, and what the schema says
    r = c.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Give me a JSON object "
                                                          "describing a cat with name and age."}],
                                  max_tokens=200, temperature=0, response_format={"type": "json_object"})
    try:
        doc = json.loads(r.choices[0].message.content)
    except ValueError:
        doc = None
    check("json_object: a JSON object", isinstance(doc, dict) and r.choices[0].finish_reason == "stop",
          r.choices[0])
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"},
                                               "kind": {"enum": ["cat", "dog"]},
                                               "tags": {"type": "array", "items": {"type": "string", "maxLength": 12},
                                                        "maxItems": 2}},
              "required": ["name", "age", "kind"]}
    for seed in range(2 if QUICK else 4):
        r = c.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Describe a pet."}],
                                      max_tokens=400, temperature=0.8, seed=seed,
                                      response_format={"type": "json_schema",
                                                       "json_schema": {"name": "pet", "schema": schema}})
        try:
            doc = json.loads(r.choices[0].message.content)
        except ValueError:
            doc = None
        # every string and number is bounded: the document always ends
        check("json_schema (seed %d): the schema's object" % seed,
              r.choices[0].finish_reason == "stop" and isinstance(doc, dict) and set(doc) <= set(schema["properties"]) and
              isinstance(doc.get("name"), str) and len(doc["name"]) <= 20 and type(doc.get("age")) is int and
              doc.get("kind") in ("cat", "dog") and len(doc.get("tags", [])) <= 2, r.choices[0].message.content)
    try:
        c.chat.completions.create(model="smol", messages=[{"role": "user", "content": "x"}], max_tokens=4,
                                  response_format={"type": "json_schema", "json_schema": {
                                      "name": "x", "schema": {"type": "string", "pattern": "a+"}}})
        check("json_schema with an unenforced keyword is refused", False)
    except openai.BadRequestError as e:
        check("json_schema with an unenforced keyword: 400 naming it", "pattern" in str(e), e)

    # the prefix cache across requests
    # QUICK: a 611-token prompt took 24 s to evaluate under ASan, half the test
    system = "You are a helpful assistant. " + " ".join("Fact %d: the sky is blue." % i for i in range(16 if QUICK else 120))
    t0 = time.monotonic()
    a = c.chat.completions.create(model="smol", messages=[{"role": "system", "content": system},
                                                          {"role": "user", "content": "Hello"}], max_tokens=2)
    t1 = time.monotonic()
    b = c.chat.completions.create(model="smol", messages=[{"role": "system", "content": system},
                                                          {"role": "user", "content": "Good morning"}], max_tokens=2)
    t2 = time.monotonic()
    check("prefix cache: the shared system prompt is not computed again",
          b.usage.prompt_tokens_details.cached_tokens > a.usage.prompt_tokens * 0.8,
          (a.usage, b.usage))
    print("prefix cache: %d-token prompt %.0f ms, then %.0f ms with %d cached" %
          (a.usage.prompt_tokens, (t1 - t0) * 1e3, (t2 - t1) * 1e3, b.usage.prompt_tokens_details.cached_tokens))

    # concurrent streams: each the text it gives alone
    prompts = ["Once upon a time", "The best way to learn", "In 1969,", "My favourite food is"]
    alone = [c.completions.create(model="smol", prompt=p, max_tokens=N, temperature=0).choices[0].text
             for p in prompts]
    got = [None] * len(prompts)

    def run(i):
        got[i] = "".join(ch.choices[0].text for ch in c.completions.create(
            model="smol", prompt=prompts[i], max_tokens=N, temperature=0, stream=True) if ch.choices)
    th = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
    for x in th:
        x.start()
    for x in th:
        x.join()
    check("4 concurrent streams: the texts they give alone", got == alone, (got, alone))
    check("metrics: batched steps ran", (metric(s, "generation_steps_total") or 0) > 0)

    # a client that leaves cancels its generation
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    conn.request("POST", "/v1/completions", json.dumps({"model": "smol", "prompt": "Count: 1, 2, 3,",
                                                        "max_tokens": 4000, "ignore_eos": True, "stream": True}),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.readline()
    conn.sock.close()
    conn.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and metric(s, "generation_running") != 0:
        time.sleep(0.1)
    g0 = metric(s, "generation_tokens_total")
    time.sleep(0.5)
    check("disconnect: the generation stopped", metric(s, "generation_running") == 0 and
          metric(s, "generation_tokens_total") == g0 and g0 < 3000, (metric(s, "generation_running"), g0))

    # errors
    try:
        c.completions.create(model="smol", prompt="word " * 9000, max_tokens=4)
        check("an over-long prompt is refused", False)
    except openai.BadRequestError as e:
        check("an over-long prompt: 400 naming both lengths", "9001 tokens" in str(e) and "8192" in str(e), e)
    for bad, field in [({"temperature": 5}, "temperature"), ({"n": 0}, "n"), ({"stop": 3}, "stop"),
                       ({"top_logprobs": 50, "logprobs": True}, "top_logprobs")]:
        st, _, body = s.post("/v1/chat/completions", dict({"model": "smol", "messages": [{"role": "user",
                                                                                         "content": "x"}]}, **bad))
        check("bad %s: 400 naming it" % field, st == 400 and body["error"]["param"] == field, (st, body))
    st, _, body = s.post("/v1/chat/completions", {"model": "embed", "messages": [{"role": "user", "content": "x"}]})
    check("chat with an embedding model: 400", st == 400 and "embed" in body["error"]["message"], body)
    st, _, body = s.post("/v1/embeddings", {"model": "smol", "input": "x"})
    check("embeddings with a language model: 400", st == 400, body)
    r = c.embeddings.create(model="embed", input=["hello"])
    check("embeddings beside it still work", len(r.data[0].embedding) > 0)

    # tokens and templates
    st, _, tok = s.post("/tokenize", {"model": "smol", "content": PROMPT})
    st2, _, de = s.post("/detokenize", {"model": "smol", "tokens": tok["tokens"]})
    check("tokenize/detokenize round trip", st == 200 and st2 == 200 and len(tok["tokens"]) == 5 and
          de["content"] == PROMPT, (tok, de))
    st, _, tpl = s.post("/apply-template", {"model": "smol", "messages": [{"role": "user", "content": "Hi"}]})
    check("apply-template: the chat prompt", st == 200 and tpl["prompt"].endswith(
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"), tpl)
    _, _, text = s.get("/metrics")
    check("metrics: time to first token, KV cache, prefix hits",
          all(k in text for k in ("generation_time_to_first_token_seconds_sum", "generation_kv_cache_bytes",
                                  "generation_prefix_cache_hits_total", "generation_tokens_per_second")))
finally:
    rc = s.stop()
check("server exits 0", rc == 0, s.output()[-2000:])
sys.exit(t.summary())
