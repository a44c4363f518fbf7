# The benchmark database (src/benchdb/, docs/benchmarks.md): statistics on
# known distributions, migrations and concurrent writers, and `bench` end to
# end on the synthetic tiny model with the file read back from Python.
ia_add_test(test_benchdb_stats ${CMAKE_CURRENT_LIST_DIR}/test_benchdb_stats.c)
target_link_libraries(test_benchdb_stats PRIVATE ia_benchdb)
set_tests_properties(test_benchdb_stats PROPERTIES TIMEOUT 60)

ia_add_test_program(test_benchdb_db ${CMAKE_CURRENT_LIST_DIR}/test_benchdb_db.c)
target_link_libraries(test_benchdb_db PRIVATE ia_benchdb)
foreach(mode migrate concurrent)
  add_test(NAME benchdb_db_${mode}
           COMMAND test_benchdb_db ${mode} ${CMAKE_CURRENT_BINARY_DIR}/benchdb-${mode})
  set_tests_properties(benchdb_db_${mode} PROPERTIES TIMEOUT 60)
endforeach()

add_test(NAME benchdb_bench_e2e
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/bench_e2e_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32
                 ${CMAKE_CURRENT_BINARY_DIR}/benchdb-e2e)
set_tests_properties(benchdb_bench_e2e PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120)

# The performance model's arithmetic against hand calculation.
ia_add_test(test_benchdb_perfmodel ${CMAKE_CURRENT_LIST_DIR}/test_benchdb_perfmodel.c)
target_link_libraries(test_benchdb_perfmodel PRIVATE ia_benchdb)
set_tests_properties(test_benchdb_perfmodel PROPERTIES TIMEOUT 60)

# `bench peaks` and `bench validate` on the tiny model: structure only.
add_test(NAME benchdb_validate_e2e
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/bench_validate_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32
                 ${CMAKE_CURRENT_BINARY_DIR}/benchdb-validate)
set_tests_properties(benchdb_validate_e2e PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 180)

# `bench predict` and `bench validate` on the real SmolLM2 GGUF (skipped,
# 77, only when it cannot be fetched): the decoder's counts, measured
# points beside predicted ones, both phases stored and checked.
add_test(NAME benchdb_decoder
         COMMAND sh -c "f=$(${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh) || exit $?; exec ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/bench_decoder_test.py $<TARGET_FILE:ipfs-accelerate> \"$f\" ${CMAKE_CURRENT_BINARY_DIR}/benchdb-decoder")
set_tests_properties(benchdb_decoder PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180)

# The advisor's choices on faked device tables.
ia_add_test(test_benchdb_advise ${CMAKE_CURRENT_LIST_DIR}/test_benchdb_advise.c)
target_link_libraries(test_benchdb_advise PRIVATE ia_benchdb)
set_tests_properties(test_benchdb_advise PROPERTIES TIMEOUT 60)
add_test(NAME benchdb_advise_e2e
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/advise_e2e_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32
                 ${CMAKE_CURRENT_BINARY_DIR}/benchdb-advise)
set_tests_properties(benchdb_advise_e2e PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120)
# A Vulkan device's peaks (bench peaks --device) and their prediction;
# skipped (77) where no Vulkan backend or device is here.
add_test(NAME benchdb_vulkan_peaks
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/advise_e2e_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32
                 ${CMAKE_CURRENT_BINARY_DIR}/benchdb-vulkan-peaks vulkan)
set_tests_properties(benchdb_vulkan_peaks PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 300 SKIP_RETURN_CODE 77)

# `bench report` opened in headless Chromium (skipped, 77, where it is not
# installed or cannot start); the screenshot stays in the build directory.
add_test(NAME benchdb_report
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/report_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32
                 ${CMAKE_CURRENT_BINARY_DIR}/benchdb-report)
set_tests_properties(benchdb_report PROPERTIES FIXTURES_REQUIRED synth_models SKIP_RETURN_CODE 77 TIMEOUT 300)
