# The CPU matmul on every weight dtype (src/backend/cpu/qmatmul*.c) against
# a double-precision reference with bounds from the activation quantization:
# the kernels the backend picks here (with the AVX-512 additions, checked
# bit for bit against AVX2's), and the AVX2 and portable C ones forced. 77 (skipped) where IA_CPU_ISA asks for more than
# the CPU has.
ia_add_test_program(test_qmatmul ${CMAKE_CURRENT_LIST_DIR}/test_qmatmul.c)
add_test(NAME qmatmul COMMAND test_qmatmul)
add_test(NAME qmatmul_portable COMMAND test_qmatmul)
set_tests_properties(qmatmul_portable PROPERTIES ENVIRONMENT "IA_CPU_ISA=portable")
add_test(NAME qmatmul_avx2 COMMAND test_qmatmul)
set_tests_properties(qmatmul_avx2 PROPERTIES ENVIRONMENT "IA_CPU_ISA=avx2")
# the AVX-512 tiles and VNNI kernels: skipped (77) on a CPU without AVX-512
add_test(NAME qmatmul_avx512 COMMAND test_qmatmul)
set_tests_properties(qmatmul_avx512 PROPERTIES ENVIRONMENT "IA_CPU_ISA=avx512")
set_tests_properties(qmatmul qmatmul_portable qmatmul_avx2 qmatmul_avx512 PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
