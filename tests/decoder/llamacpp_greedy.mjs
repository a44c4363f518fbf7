// llama.cpp (node-llama-cpp's prebuilt binaries) as the oracle: for each
// prompt text of the JSON array in argv[3], its token ids (llama.cpp's
// tokenizer, no specials added) and N greedy tokens, with llama.cpp's own
// ten best candidates at each step as [token, logit gap to the best].
// One JSON line each. Each step asks for the top ten logits only: the
// whole vocabulary's probabilities, a JS Map a step, took as long as the
// model itself (4 prompts of 64 tokens: 17 s, now 9.5 s, as long as plain
// generation).
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import {readFileSync} from "node:fs";

const [model_path, prompts_file, n_str, threads] = process.argv.slice(2);
const N = Number(n_str);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath: model_path});
const ctx = await model.createContext({contextSize: 1024, threads: Number(threads || 2)});
const seq = ctx.getSequence();
const top10 = {generateNext: {logits: {filter: {tokens: [], includeTop: 10}}}};
for (const text of JSON.parse(readFileSync(prompts_file, "utf8"))) {
    await seq.clearHistory();
    const ids = Array.from(model.tokenize(text, false, "trimLeadingSpace"));
    const out = [], alts = [];
    let input = [...ids.slice(0, -1), [ids[ids.length - 1], top10]];
    while (out.length < N) {
        const res = await seq.controlledEvaluate(input);
        const top = [...res[input.length - 1].next.logits.entries()].slice(0, 10);
        const token = top[0][0];
        if (model.isEogToken(token))
            break; // as the generator did: an end-of-generation token ends the text, unyielded
        out.push(token);
        alts.push(top.map(([t, l]) => [t, top[0][1] - l]));
        input = [[token, top10]];
    }
    console.log(JSON.stringify({text, ids, tokens: out, alts}));
}
