// llama.cpp (node-llama-cpp's prebuilt binaries) as the oracle: for each
// prompt text of the JSON array in argv[3], its token ids (llama.cpp's
// tokenizer, no specials added) and N greedy tokens, with llama.cpp's own
// five best candidates at each step as [token, logit gap to the best].
// One JSON line each.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import {readFileSync} from "node:fs";

const [model_path, prompts_file, n_str, threads] = process.argv.slice(2);
const N = Number(n_str);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath: model_path});
const ctx = await model.createContext({contextSize: 1024, threads: Number(threads || 2)});
const seq = ctx.getSequence();
for (const text of JSON.parse(readFileSync(prompts_file, "utf8"))) {
    await seq.clearHistory();
    const ids = Array.from(model.tokenize(text, false, "trimLeadingSpace"));
    const out = [], alts = [];
    for await (const r of seq.evaluateWithMetadata(ids, {probabilities: true}, {temperature: 0})) {
        const top = [...r.probabilities.entries()].slice(0, 5);
        out.push(r.token);
        alts.push(top.map(([t, p]) => [t, Math.log(top[0][1] / p)]));
        if (out.length >= N) break;
    }
    console.log(JSON.stringify({text, ids, tokens: out, alts}));
}
