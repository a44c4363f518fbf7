# Hardware detection, selection and fallback (tests/hw/test_hw.c), and the
# CLI's hw / status / config commands (tests/hw/cli_hw_test.sh), each run
# twice: with the machine's GPU drivers (lavapipe and pocl, which
# scripts/install-deps.sh installs) visible, and hidden from their loaders
# (the *_nodrivers runs). The Vulkan loader reads VK_DRIVER_FILES (1.3.207
# and later) or VK_ICD_FILENAMES (older); an empty manifest gives it no
# driver. ocl-icd and the Khronos OpenCL loader read OCL_ICD_VENDORS; an
# empty directory gives them no platform.
ia_add_test_program(test_hw ${CMAKE_CURRENT_LIST_DIR}/test_hw.c)
set(hw_no_drivers ${CMAKE_CURRENT_BINARY_DIR}/hw-no-drivers)
file(MAKE_DIRECTORY ${hw_no_drivers}/opencl-vendors)
file(WRITE ${hw_no_drivers}/vulkan-icd.json "")
foreach(drivers visible hidden)
  set(env IA_TEST_GPU_DRIVERS=${drivers})
  set(suffix "")
  if(drivers STREQUAL "hidden")
    set(suffix _nodrivers)
    list(APPEND env VK_DRIVER_FILES=${hw_no_drivers}/vulkan-icd.json
         VK_ICD_FILENAMES=${hw_no_drivers}/vulkan-icd.json OCL_ICD_VENDORS=${hw_no_drivers}/opencl-vendors)
  endif()
  add_test(NAME test_hw${suffix} COMMAND test_hw WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  add_test(NAME cli_hw${suffix} COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/cli_hw_test.sh
           $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
  set_tests_properties(test_hw${suffix} cli_hw${suffix} PROPERTIES ENVIRONMENT "${env}")
  set_tests_properties(cli_hw${suffix} PROPERTIES FIXTURES_REQUIRED synth_models)
endforeach()
