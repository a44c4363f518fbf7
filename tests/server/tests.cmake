# The HTTP server, over real HTTP on 127.0.0.1 with the tiny synthetic
# model: routes, limits, bad inputs, auth, slow/idle clients, 429, shutdown
# (test_api.py); the official openai client against the CLI's embeddings;
# schemathesis against docs/openapi.yaml; a short mixed-load soak (the long
# one is `make soak`). Python from the test venv (scripts/install-deps.sh).
set(IA_SERVER_PY ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python)
set(IA_SERVER_MODEL ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set(IA_SERVER_CLI $<TARGET_FILE:ipfs-accelerate>)

add_test(NAME server_api
         COMMAND ${IA_SERVER_PY} ${CMAKE_CURRENT_LIST_DIR}/test_api.py ${IA_SERVER_CLI} ${IA_SERVER_MODEL})
add_test(NAME server_openai_client
         COMMAND ${IA_SERVER_PY} ${CMAKE_CURRENT_LIST_DIR}/test_openai_client.py ${IA_SERVER_CLI}
                 ${IA_SERVER_MODEL})
add_test(NAME server_schemathesis
         COMMAND ${IA_SERVER_PY} ${CMAKE_CURRENT_LIST_DIR}/test_schemathesis.py ${IA_SERVER_CLI}
                 ${IA_SERVER_MODEL} ${PROJECT_SOURCE_DIR}/docs/openapi.yaml 15)
add_test(NAME server_soak_short
         COMMAND ${IA_SERVER_PY} ${CMAKE_CURRENT_LIST_DIR}/soak.py ${IA_SERVER_CLI} ${IA_SERVER_MODEL} 6 3)
set_tests_properties(server_api server_openai_client server_schemathesis server_soak_short PROPERTIES
  FIXTURES_REQUIRED synth_models
  TIMEOUT 240
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;PYTHONDONTWRITEBYTECODE=1")

# The C API without a model: delegated routes (as the IPFS gateway mounts
# them), streamed answers, auth flag, answers before a model is loaded; the
# response writers (JSON strings, base64 floats, UTF-8).
ia_add_test(test_server_c ${CMAKE_CURRENT_LIST_DIR}/test_server_c.c)
