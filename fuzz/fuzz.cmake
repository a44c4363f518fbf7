# Fuzz targets: fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput, seeds sit
# in fuzz/corpus/NAME/. Normally each target is linked with driver.c and
# CTest replays its corpus (so every build, ASan+UBSan included, checks
# that no known input crashes). With IA_FUZZ=ON (clang) they are linked
# with libFuzzer instead, for `make fuzz`.
file(GLOB IA_FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/fuzz_*.c)
foreach(src ${IA_FUZZ_TARGETS})
  get_filename_component(name ${src} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" short ${name})
  if(IA_FUZZ)
    add_executable(${name} ${src})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${name} ${src} ${CMAKE_CURRENT_LIST_DIR}/driver.c)
    if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/corpus/${short})
      add_test(NAME fuzz_replay_${short}
               COMMAND ${name} ${CMAKE_CURRENT_LIST_DIR}/corpus/${short})
    endif()
  endif()
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PRIVATE ipfs_accelerate_static)
  target_compile_definitions(${name} PRIVATE IA_SHARED="${IA_SHARED}")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
endforeach()
