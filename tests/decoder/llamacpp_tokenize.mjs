// llama.cpp's tokenization (node-llama-cpp's prebuilt binaries) of each text
// of the JSON array in argv[3], special-token text parsed as specials and no
// bos added: one JSON array of ids per line.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import {readFileSync} from "node:fs";

const [model_path, texts_file] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath: model_path, vocabOnly: true});
for (const text of JSON.parse(readFileSync(texts_file, "utf8")))
    console.log(JSON.stringify(Array.from(model.tokenize(text, true))));
