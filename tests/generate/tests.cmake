# The public text-generation API (include/ipfs_accelerate/generate.h) on
# the real SmolLM2-135M-Instruct Q4_1 GGUF: loading and info, tokens,
# chat templates, sessions reusing their tokens, streaming, stop strings,
# cancellation, seeds, logprobs, refused arguments, two threads on one
# model. Skipped (77) only when the file cannot be fetched. Run under the
# sanitizers too (fewer tokens there: it computes 10-20x slower).
ia_add_test_program(test_lm_api ${CMAKE_CURRENT_LIST_DIR}/test_lm_api.c)
add_test(NAME lm_api
         COMMAND sh -c "f=$(${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh) || exit $?; exec $<TARGET_FILE:test_lm_api> \"$f\"")
set_tests_properties(lm_api PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
if(IA_SANITIZE OR IA_TSAN)
  target_compile_definitions(test_lm_api PRIVATE IA_TEST_SANITIZED)
endif()
set_tests_properties(lm_api PROPERTIES PROCESSORS 2)
