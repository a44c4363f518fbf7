# Hardware detection, selection and fallback (tests/hw/test_hw.c), and the
# CLI's hw / status / config commands (tests/hw/cli_hw_test.sh).
ia_add_test(test_hw ${CMAKE_CURRENT_LIST_DIR}/test_hw.c)
add_test(NAME cli_hw COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/cli_hw_test.sh $<TARGET_FILE:ipfs-accelerate>
         ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set_tests_properties(cli_hw PROPERTIES FIXTURES_REQUIRED synth_models)
