# The CPU matmul on every weight dtype (src/backend/cpu/qmatmul*.c) against
# a double-precision reference with bounds from the activation quantization:
# the kernels the backend picks here, and the portable C ones forced
# (IA_CPU_ISA=portable). 77 (skipped) where IA_CPU_ISA asks for more than
# the CPU has.
ia_add_test_program(test_qmatmul ${CMAKE_CURRENT_LIST_DIR}/test_qmatmul.c)
add_test(NAME qmatmul COMMAND test_qmatmul)
add_test(NAME qmatmul_portable COMMAND test_qmatmul)
set_tests_properties(qmatmul_portable PROPERTIES ENVIRONMENT "IA_CPU_ISA=portable")
set_tests_properties(qmatmul qmatmul_portable PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
