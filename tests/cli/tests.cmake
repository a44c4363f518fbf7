# The command line, end to end, on the tiny synthetic model.
add_test(NAME cli_embed
         COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/cli_test.sh $<TARGET_FILE:ipfs-accelerate>
                 ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set_tests_properties(cli_embed PROPERTIES FIXTURES_REQUIRED synth_models)
