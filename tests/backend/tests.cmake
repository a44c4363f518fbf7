# Backend plugins and the scheduler (tests/backend/).
#
# The example plugin (examples/backend-plugin/) is built as a MODULE into a
# directory of its own, IA_EXAMPLE_PLUGIN_DIR, which the op harness's
# second run (tests/tensor/ops.cmake: test_ops_with_plugin) and test_sched
# put in IPFS_ACCELERATE_BACKEND_PATH. A plugin links nothing of ours: the
# library's internal symbols are hidden (-fvisibility=hidden), so they are
# in no dynamic symbol table, not even of an executable linked with
# ENABLE_EXPORTS; what a plugin needs comes in the ia_plugin_host table its
# entry point receives (backend-impl.h). The broken plugins of
# bad_plugin.c go to a second directory.
set(IA_EXAMPLE_PLUGIN_DIR ${CMAKE_CURRENT_BINARY_DIR}/plugins/example)
set(IA_BAD_PLUGIN_DIR ${CMAKE_CURRENT_BINARY_DIR}/plugins/bad)

function(ia_add_plugin name dir)
  add_library(${name} MODULE ${ARGN})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
  # Only the entry point is exported; no lib prefix: <name>.so.
  set_target_properties(${name} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
                        LIBRARY_OUTPUT_DIRECTORY ${dir})
endfunction()

ia_add_plugin(example_backend ${IA_EXAMPLE_PLUGIN_DIR}
              ${PROJECT_SOURCE_DIR}/examples/backend-plugin/example_backend.c)
set(ia_bad_plugins)
foreach(kind nosym:1 null:2 oldtable:3 dup:4 missing:5)
  string(REPLACE ":" ";" kv ${kind})
  list(GET kv 0 bad_name)
  list(GET kv 1 bad_kind)
  ia_add_plugin(bad_${bad_name} ${IA_BAD_PLUGIN_DIR} ${CMAKE_CURRENT_LIST_DIR}/bad_plugin.c)
  target_compile_definitions(bad_${bad_name} PRIVATE BAD_KIND=${bad_kind})
  list(APPEND ia_bad_plugins bad_${bad_name})
endforeach()

# test_plugin: loading from IPFS_ACCELERATE_BACKEND_PATH (which it sets
# itself, with a junk .so it writes), every failure a logged warning naming
# the file, selection, and the synthetic model run on the example plugin.
ia_add_test_program(test_plugin ${CMAKE_CURRENT_LIST_DIR}/test_plugin.c)
add_dependencies(test_plugin example_backend ${ia_bad_plugins})
target_compile_definitions(test_plugin PRIVATE IA_EXAMPLE_PLUGIN_DIR="${IA_EXAMPLE_PLUGIN_DIR}"
                           IA_BAD_PLUGIN_DIR="${IA_BAD_PLUGIN_DIR}" IA_PLUGIN_TMP="${CMAKE_CURRENT_BINARY_DIR}/plugins/junk")
add_test(NAME test_plugin COMMAND test_plugin ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set_tests_properties(test_plugin PROPERTIES FIXTURES_REQUIRED synth_models)

# test_sched: a graph mixing ops the example backend computes and ops it
# does not, against the same graph all on the CPU.
ia_add_test_program(test_sched ${CMAKE_CURRENT_LIST_DIR}/test_sched.c)
add_dependencies(test_sched example_backend)
add_test(NAME test_sched COMMAND test_sched)
set_tests_properties(test_sched PROPERTIES ENVIRONMENT "IPFS_ACCELERATE_BACKEND_PATH=${IA_EXAMPLE_PLUGIN_DIR}")
set_tests_properties(test_plugin test_sched PROPERTIES TIMEOUT 60)

# test_vulkan: the Vulkan backend on lavapipe, a BERT-like layer through the
# scheduler against the CPU (where the build has the backend).
if(IA_HAVE_VULKAN)
  ia_add_test_program(test_vulkan ${CMAKE_CURRENT_LIST_DIR}/test_vulkan.c)
  add_test(NAME test_vulkan COMMAND test_vulkan)
  # all-MiniLM-L6-v2 end to end (what the backend does not compute moves
  # to the CPU), against the CPU, on the first test sentences (the short
  # ones; on lavapipe 16 texts take 15-40 s depending on the CPU, all 208
  # two to five minutes), fewer under the sanitizers (SmolLM2: prompts of
  # the Q4_1 and the f16 file)
  if(IA_SANITIZE)
    set(ia_vk_texts 8)
    set(ia_vk_few 4)
    set(ia_vk_q4_prompts 1)
    set(ia_vk_prompts 1)
    set(ia_vk_tokens 4) # the steps are the time there: 1 prompt of 16 tokens 14 s, of 4 tokens 4 s
  else()
    set(ia_vk_texts 16)
    set(ia_vk_few 4)
    set(ia_vk_q4_prompts 2)
    set(ia_vk_prompts 2)
    set(ia_vk_tokens 16)
  endif()
  add_test(NAME test_vulkan_minilm COMMAND test_vulkan model @real ${ia_vk_texts})
  # SmolLM2 on the device against the CPU, 16 greedy tokens a prompt (4
  # under the sanitizers): the Q4_1 file (2 prompts; a near tie may differ,
  # test_vulkan.c says why), and its f16 file (gguf_f16.py; 2 prompts,
  # every token identical). 20-40 s each on lavapipe.
  add_test(NAME test_vulkan_smollm2
           COMMAND sh -c "f=$(${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh) || exit $?; exec $<TARGET_FILE:test_vulkan> smollm2 \"$f\" ${ia_vk_q4_prompts} ${ia_vk_tokens}")
  add_test(NAME test_vulkan_smollm2_f16
           COMMAND sh -c "f=$(${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh) || exit $?; f=$(${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${PROJECT_SOURCE_DIR}/tests/decoder/gguf_f16.py \"$f\") || exit 1; exec $<TARGET_FILE:test_vulkan> smollm2-exact \"$f\" ${ia_vk_prompts} ${ia_vk_tokens}")
  # all-mpnet-base-v2 (relative-position bias in the attention) on 4 texts
  add_test(NAME test_vulkan_mpnet
           COMMAND sh -c "d=$(${PROJECT_SOURCE_DIR}/scripts/fetch-mpnet.sh) || exit $?; exec $<TARGET_FILE:test_vulkan> model \"$d\" ${ia_vk_few}")
  # the same in device-local memory through staging (what a discrete GPU
  # gets; IA_VULKAN_MEMORY=device forces it on lavapipe): the graph, the op
  # harness and all-MiniLM-L6-v2
  add_test(NAME test_vulkan_device_memory COMMAND test_vulkan)
  add_test(NAME test_vulkan_minilm_device_memory COMMAND test_vulkan model @real ${ia_vk_few})
  add_test(NAME test_ops_vulkan_device_memory COMMAND test_ops)
  set_tests_properties(test_vulkan_device_memory test_vulkan_minilm_device_memory test_ops_vulkan_device_memory
                       PROPERTIES ENVIRONMENT "IA_VULKAN_MEMORY=device" TIMEOUT 300)
  # a failing device: the load falls back to the CPU (or fails with
  # --no-fallback), a lost device is named
  add_test(NAME test_vulkan_fallback
           COMMAND sh -c "f=$(${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh) || exit $?; exec sh ${CMAKE_CURRENT_LIST_DIR}/vulkan_fallback.sh $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32 \"$f\"")
  set_tests_properties(test_vulkan_fallback PROPERTIES FIXTURES_REQUIRED synth_models)
  set_tests_properties(test_vulkan test_vulkan_minilm test_vulkan_smollm2 test_vulkan_smollm2_f16 test_vulkan_mpnet test_vulkan_fallback
                       PROPERTIES TIMEOUT 300)
else() # reported as skipped, not passed
  add_test(NAME test_vulkan COMMAND sh -c "echo 'no vulkan backend in this build (libvulkan-dev or glslc missing)'; exit 77")
  set_tests_properties(test_vulkan PROPERTIES SKIP_RETURN_CODE 77)
endif()

# The CUDA backend plugin (src/backend/cuda/, docs/cuda.md) where the build
# has it (-DIA_CUDA=ON: make cuda). Without a GPU, cuda_nodevice.sh checks
# what does run: the plugin loads, `hw` and `status` say it has no device,
# and a model asked onto it falls back to the CPU with the reason (or fails
# with --no-fallback). The tests that need a GPU (this file's layer and
# models through test_vulkan.c, the op harness: tensor/ops.cmake) report
# themselves skipped (77) where there is none; scripts/gpu-check.sh runs
# them on a GPU machine.
if(TARGET ia_backend_cuda)
  ia_add_test_program(test_cuda ${CMAKE_CURRENT_LIST_DIR}/test_vulkan.c)
  target_compile_definitions(test_cuda PRIVATE TEST_BACKEND="cuda")
  add_dependencies(test_cuda ia_backend_cuda)
  add_test(NAME test_cuda COMMAND test_cuda)
  # all-MiniLM-L6-v2 (fp32 >= 0.99999, fp16 >= 0.9999 against the CPU) and
  # SmolLM2 (3 prompts, 32 greedy tokens each)
  add_test(NAME test_cuda_minilm COMMAND test_cuda model @real 16)
  add_test(NAME test_cuda_smollm2
           COMMAND sh -c "$<TARGET_FILE:test_cuda> device >/dev/null || exit $?; f=$(${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh) || exit $?; exec $<TARGET_FILE:test_cuda> smollm2 \"$f\" 3 32")
  add_test(NAME cuda_nodevice
           COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/cuda_nodevice.sh $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
  set_tests_properties(cuda_nodevice PROPERTIES FIXTURES_REQUIRED synth_models)
  set_tests_properties(test_cuda test_cuda_minilm test_cuda_smollm2 PROPERTIES
                       ENVIRONMENT "IPFS_ACCELERATE_BACKEND_PATH=${IA_CUDA_PLUGIN_DIR}")
  set_tests_properties(test_cuda test_cuda_minilm test_cuda_smollm2 cuda_nodevice PROPERTIES
                       SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS cuda)
else() # reported as skipped, not passed
  add_test(NAME test_cuda COMMAND sh -c "echo 'no cuda backend in this build (make cuda: -DIA_CUDA=ON)'; exit 77")
  set_tests_properties(test_cuda PROPERTIES SKIP_RETURN_CODE 77)
endif()
