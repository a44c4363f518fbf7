# The op harness (test_ops.c, after ggml's test-backend-ops): every
# registered backend computes every engine-core op over its dtypes and
# shapes against a double reference, and refuses malformed nodes. Run at
# the CPU's best kernels and again with the portable ones forced.
ia_add_test_program(test_ops ${CMAKE_CURRENT_LIST_DIR}/test_ops.c)
add_test(NAME test_ops COMMAND test_ops)
add_test(NAME test_ops_portable COMMAND test_ops)
set_tests_properties(test_ops_portable PROPERTIES ENVIRONMENT "IA_CPU_ISA=portable")
set_tests_properties(test_ops test_ops_portable PROPERTIES TIMEOUT 120)
# Again with the example backend plugin loaded (tests/backend/tests.cmake):
# its column shows "ok" for add, mul, scale and relu on contiguous f32 and
# "not supported" for the rest.
if(TARGET example_backend)
  add_dependencies(test_ops example_backend)
  add_test(NAME test_ops_with_plugin COMMAND test_ops)
  set_tests_properties(test_ops_with_plugin PROPERTIES TIMEOUT 120
                       ENVIRONMENT "IPFS_ACCELERATE_BACKEND_PATH=${IA_EXAMPLE_PLUGIN_DIR}")
endif()
# Again with the CUDA plugin (tests/backend/tests.cmake), which must be
# registered: skipped (77) where it has no device.
if(TARGET ia_backend_cuda)
  add_dependencies(test_ops ia_backend_cuda)
  add_test(NAME test_ops_cuda COMMAND test_ops)
  set_tests_properties(test_ops_cuda PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 LABELS cuda
                       ENVIRONMENT "IPFS_ACCELERATE_BACKEND_PATH=${IA_CUDA_PLUGIN_DIR};IA_TEST_OPS_REQUIRE=cuda")
endif()
