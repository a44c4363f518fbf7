# CPU backend tests: kernels at every ISA level against references, forced
# lower ISA paths end to end (IA_CPU_ISA), and int8 / bf16 against fp32.
ia_add_test(test_cpu_kernels ${CMAKE_CURRENT_LIST_DIR}/test_cpu_kernels.c)
foreach(isa avx2 portable)
  add_test(NAME cpu_kernels_forced_${isa} COMMAND test_cpu_kernels)
  set_tests_properties(cpu_kernels_forced_${isa} PROPERTIES ENVIRONMENT "IA_CPU_ISA=${isa}")
endforeach()

# Under the sanitizers (about 10x slower) the end-to-end checks run on
# fewer texts: the first 64 hold the worst cases (the shortest texts).
if(IA_SANITIZE)
  set(IA_CPU_NTEXTS 64)
else()
  set(IA_CPU_NTEXTS 0)
endif()

# The same binary on the lower paths: goldens of the synthetic models
# (made by tests/model's fixture) with AVX2 and portable kernels forced.
set(IA_CPU_SYNTH ${CMAKE_BINARY_DIR}/tests/models)
foreach(isa avx2 portable)
  foreach(spec "minilm-f32|64" "tiny-bf16-prefix-sharded-cls|208" "tiny-f16-max-relu|208")
    string(REPLACE "|" ";" parts "${spec}")
    list(GET parts 0 name)
    list(GET parts 1 rows)
    if(IA_SANITIZE AND name STREQUAL "minilm-f32")
      continue() # the tiny models cover these paths at a tenth of the time
    endif()
    add_test(NAME cpu_forced_${isa}_golden_${name}
             COMMAND test_model golden ${IA_CPU_SYNTH}/${name} ${IA_TEST_DATA}/golden/${name}.npy ${rows})
    set_tests_properties(cpu_forced_${isa}_golden_${name} PROPERTIES
      ENVIRONMENT "IA_CPU_ISA=${isa}" FIXTURES_REQUIRED synth_models)
  endforeach()
endforeach()

# int8 / bf16 vs fp32: every test sentence on the real model (cosine >=
# 0.995), the synthetic MiniLM-shaped model too, and the fallback to fp32
# where AVX2 is forced (no VNNI / BF16 there).
ia_add_test_program(test_cpu_precision ${CMAKE_CURRENT_LIST_DIR}/test_cpu_precision.c)
foreach(p int8 bf16)
  add_test(NAME cpu_precision_${p}_real COMMAND test_cpu_precision @real ${p} 0.995 ${IA_CPU_NTEXTS})
  add_test(NAME cpu_precision_${p}_synth COMMAND test_cpu_precision ${IA_CPU_SYNTH}/minilm-f32 ${p} 0.995 64)
  set_tests_properties(cpu_precision_${p}_synth PROPERTIES FIXTURES_REQUIRED synth_models)
endforeach()
foreach(p int8 bf16)
  add_test(NAME cpu_precision_${p}_fallback COMMAND test_cpu_precision ${IA_CPU_SYNTH}/minilm-f32 ${p} 0.995 16)
  set_tests_properties(cpu_precision_${p}_fallback PROPERTIES
    ENVIRONMENT "IA_CPU_ISA=avx2" FIXTURES_REQUIRED synth_models)
endforeach()
