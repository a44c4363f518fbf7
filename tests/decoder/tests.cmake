# Decoders (src/model/decoder.c) on the real SmolLM2-135M-Instruct Q4_1
# GGUF: logits against an independent NumPy forward (weights dequantized by
# gguf-py), the KV cache (whole = stepwise = chunked), and peak RSS within
# 10% of the file plus KV cache and scratch. Skipped (77) only when the
# file cannot be fetched.
ia_add_test_program(decoder_run ${CMAKE_CURRENT_LIST_DIR}/decoder_run.c)
add_test(NAME decoder_smollm2_numpy
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/numpy_ref.py
                 $<TARGET_FILE:decoder_run> ${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/decoder-work)
set_tests_properties(decoder_smollm2_numpy PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)
# The sanitizer build computes 10-20x slower: fewer prompts and tokens there.
# Greedy tokens against llama.cpp: 32 (its side took 45 s for 64, the
# suite's longest wait; 17 of the 20 fixed prompts first differ, at a near
# tie, before token 32).
if(IA_SANITIZE OR IA_TSAN)
  set_tests_properties(decoder_smollm2_numpy PROPERTIES ENVIRONMENT "IA_TEST_QUICK=1")
  set(IA_GREEDY_TOKENS 12)
else()
  set(IA_GREEDY_TOKENS 32)
endif()

# Sampling (src/model/sampler.c) against the definitions (fewer draws on
# the large vocabulary under the sanitizers).
ia_add_test(test_sampler ${CMAKE_CURRENT_LIST_DIR}/test_sampler.c)
if(IA_SANITIZE OR IA_TSAN)
  set_tests_properties(test_sampler PROPERTIES ENVIRONMENT "IA_TEST_QUICK=1")
endif()

# Greedy continuations against llama.cpp itself (node-llama-cpp's prebuilt
# binaries from npm, installed into .cache/node-llama-cpp): identical, or
# first different at one of llama.cpp's own near ties. Skipped (77) only
# when the model or the npm package cannot be fetched.
ia_add_test_program(decoder_greedy ${CMAKE_CURRENT_LIST_DIR}/decoder_greedy.c)
add_test(NAME decoder_smollm2_llamacpp
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/llamacpp_test.py
                 $<TARGET_FILE:decoder_greedy> ${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh
                 ${CMAKE_CURRENT_LIST_DIR}/llamacpp_setup.sh ${CMAKE_CURRENT_BINARY_DIR}/llamacpp-work
                 ${IA_GREEDY_TOKENS})
set_tests_properties(decoder_smollm2_llamacpp PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)
ia_add_test_program(chat_prompt ${CMAKE_CURRENT_LIST_DIR}/chat_prompt.c)

# Generation over a session on the real model (src/model/lm.c): greedy
# text, stop strings, cancellation, reuse of the session's tokens, seeds.
ia_add_test_program(test_generate ${CMAKE_CURRENT_LIST_DIR}/test_generate.c)
add_test(NAME decoder_generate
         COMMAND sh -c "f=$(${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh) || exit $?; exec $<TARGET_FILE:test_generate> \"$f\"")
set_tests_properties(decoder_generate PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

# Chat prompts: the model's template rendered as jinja2 renders it and
# tokenized as llama.cpp does; control-token text typed into messages stays
# text. Skipped (77) only when the model or llama.cpp cannot be fetched.
add_test(NAME decoder_chat_prompt
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/chat_test.py
                 $<TARGET_FILE:chat_prompt> ${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh
                 ${CMAKE_CURRENT_LIST_DIR}/llamacpp_setup.sh ${CMAKE_CURRENT_BINARY_DIR}/chat-work)
set_tests_properties(decoder_chat_prompt PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

# JSON output constraints (src/model/json_constraint.c): response_format json_object / json_schema.
ia_add_test(test_json_constraint ${CMAKE_CURRENT_LIST_DIR}/test_json_constraint.c)

# Decoders from Hugging Face folders and from GGUF (issue 13): small
# checkpoints of every architecture (llama, qwen2 with biases and linear
# rope scaling, mistral with a sliding window, gpt2, llama3 and yarn rope
# scaling) made with fresh random weights by transformers, saved as
# folders and converted by llama.cpp's convert_hf_to_gguf.py; our logits
# from both, prompt then KV-cache steps, single and batched sessions,
# against transformers' own (cosine >= 0.99999). Runs in .cache/hf-venv
# (scripts/install-deps.sh: Debian's torch + transformers); skipped (77)
# without it or without llama.cpp's source.
ia_add_test_program(hf_run ${CMAKE_CURRENT_LIST_DIR}/hf_run.c)
set(IA_HF_PYTHON ${PROJECT_SOURCE_DIR}/.cache/hf-venv/bin/python)
add_test(NAME decoder_hf_transformers
         COMMAND sh -c "[ -x '${IA_HF_PYTHON}' ] || { echo 'SKIP: no .cache/hf-venv (scripts/install-deps.sh)'; exit 77; }; exec '${IA_HF_PYTHON}' '${CMAKE_CURRENT_LIST_DIR}/hf_test.py' '$<TARGET_FILE:hf_run>' '${PROJECT_SOURCE_DIR}/scripts/fetch-llama-cpp-src.sh' '${CMAKE_CURRENT_BINARY_DIR}/hf-work'")
set_tests_properties(decoder_hf_transformers PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
if(IA_SANITIZE OR IA_TSAN)
  set_tests_properties(decoder_hf_transformers PROPERTIES ENVIRONMENT "IA_TEST_QUICK=1")
endif()

# Qwen3 (not in transformers 4.47.1): tiny random checkpoints written with
# the safetensors package, against a NumPy float64 forward of Qwen3's
# definition: logits from the folder and from llama.cpp's GGUF conversion,
# 16 greedy tokens, and Qwen3-Embedding-style embeddings through `embed`.
add_test(NAME decoder_qwen3_ref
         COMMAND sh -c "[ -x '${IA_HF_PYTHON}' ] || { echo 'SKIP: no .cache/hf-venv (scripts/install-deps.sh)'; exit 77; }; exec '${IA_HF_PYTHON}' '${CMAKE_CURRENT_LIST_DIR}/qwen3_ref_test.py' '$<TARGET_FILE:hf_run>' '$<TARGET_FILE:ipfs-accelerate>' '${PROJECT_SOURCE_DIR}/scripts/fetch-llama-cpp-src.sh' '${CMAKE_CURRENT_BINARY_DIR}/qwen3-work'")
set_tests_properties(decoder_qwen3_ref PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

# The real SmolLM2-135M-Instruct as a Hugging Face folder made from its
# Q4_1 GGUF with gguf-py (f16 safetensors, Q/K un-permuted, config.json,
# tokenizer.json, tokenizer_config.json): its logits against an f16 GGUF of
# the same numbers (cosine >= 0.99999) and against the Q4_1 file, its
# tokenizer against the GGUF's, greedy text against both files. Skipped
# (77) only when the model cannot be fetched.
add_test(NAME decoder_hf_smollm2
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/hf_smollm2_test.py
                 $<TARGET_FILE:hf_run> ${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/hf-smollm2-work)
set_tests_properties(decoder_hf_smollm2 PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
if(IA_SANITIZE OR IA_TSAN)
  set_tests_properties(decoder_hf_smollm2 PROPERTIES ENVIRONMENT "IA_TEST_QUICK=1")
endif()

# These compute with both cores (OpenMP): two of them side by side under
# `ctest -j 2` spin against each other and run up to 8x slower.
set_tests_properties(decoder_smollm2_numpy decoder_smollm2_llamacpp decoder_generate decoder_chat_prompt
                     decoder_hf_transformers decoder_hf_smollm2 PROPERTIES PROCESSORS 2)
