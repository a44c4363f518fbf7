# Chat templates: the Jinja interpreter (src/template/, docs/templates.md).
#  test_jinja: semantics jinja2 users rely on (whitespace control, loops,
#    scopes, namespaces, macros, float repr, slicing, tojson...) with
#    expected outputs taken from jinja2, and error cases (unsupported
#    constructs named with their line, syntax errors, deep nesting, limits,
#    failed allocations); also under ASan+UBSan in the sanitizer build.
#  jinja_oracle: every real chat template of llama.cpp's models/templates
#    (from the pinned llama-cpp-python sdist) and SmolLM2's (from its GGUF)
#    rendered by ia-jinja-render and by Python jinja2 set up as transformers
#    sets it up, on a set of conversations; byte-identical or both failing.
#    Skipped (77) when jinja2 is not installed in the test venv or PyPI
#    cannot be reached to fetch the templates.
ia_add_test(test_jinja ${CMAKE_CURRENT_LIST_DIR}/test_jinja.c)

ia_add_test_program(ia-jinja-render ${CMAKE_CURRENT_LIST_DIR}/jinja_render.c)
add_test(NAME jinja_oracle
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/jinja_oracle.py
                 $<TARGET_FILE:ia-jinja-render> ${PROJECT_SOURCE_DIR}/scripts/fetch-llama-cpp-src.sh
                 ${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh)
set_tests_properties(jinja_oracle PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)
# Under the sanitizers only the fresh random seed: the fixed seeds' 3,000
# templates are the plain run's, and jinja2 compiling them (not our
# renderer) is most of the test's time.
if(IA_SANITIZE OR IA_TSAN)
  set_tests_properties(jinja_oracle PROPERTIES ENVIRONMENT "JINJA_FIXED_SEEDS=0")
endif()
