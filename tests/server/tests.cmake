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
# Under TSan the engine runs hundreds of times slower: a longer soak with
# smaller requests makes about as many.
set(IA_SOAK_SHORT_ARGS 6 3)
if(IA_TSAN)
  set(IA_SOAK_SHORT_ARGS 20 3 2)
endif()
add_test(NAME server_soak_short
         COMMAND ${IA_SERVER_PY} ${CMAKE_CURRENT_LIST_DIR}/soak.py ${IA_SERVER_CLI} ${IA_SERVER_MODEL}
                 ${IA_SOAK_SHORT_ARGS})
# The gateway under an API key with one HTTP thread (a stalled CAR client
# holds none). server_shutdown: slow uploads across SIGTERM and its drain.
add_test(NAME server_gateway
         COMMAND ${IA_SERVER_PY} ${CMAKE_CURRENT_LIST_DIR}/test_gateway.py ${IA_SERVER_CLI} ${IA_SERVER_MODEL})
add_test(NAME server_shutdown
         COMMAND ${IA_SERVER_PY} ${CMAKE_CURRENT_LIST_DIR}/test_shutdown.py ${IA_SERVER_CLI} ${IA_SERVER_MODEL})
set_tests_properties(server_api server_openai_client server_schemathesis server_soak_short
                     server_gateway server_shutdown PROPERTIES
  FIXTURES_REQUIRED synth_models
  TIMEOUT 240
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;PYTHONDONTWRITEBYTECODE=1")

# The C API without a model: delegated routes (as the IPFS gateway mounts
# them), streamed answers, the API key on every mount, answers before a
# model is loaded, the handler pool (429, 504, 503); the response writers
# (JSON strings, base64 floats, UTF-8). test_server_shutdown: a body that
# arrives while the server stops.
ia_add_test(test_server_c ${CMAKE_CURRENT_LIST_DIR}/test_server_c.c)
add_test(NAME test_server_shutdown COMMAND test_server_c shutdown WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})

set_tests_properties(test_server_c PROPERTIES FIXTURES_REQUIRED synth_models)

# make test-tsan runs these in the ThreadSanitizer build (ctest -L tsan).
# Not server_api: its large batches take minutes there.
set_tests_properties(test_server_c test_server_shutdown server_shutdown server_soak_short server_gateway
                     PROPERTIES LABELS tsan)

# Text generation (routes_gen.c, gen.c) on the real SmolLM2 GGUF beside the
# tiny embedding model: the openai client against the CLI, continuous
# batching, the prefix cache, cancellation on disconnect, errors. Skipped
# (77) only when the GGUF cannot be fetched.
add_test(NAME server_generate
         COMMAND ${IA_SERVER_PY} ${CMAKE_CURRENT_LIST_DIR}/test_generate.py ${IA_SERVER_CLI} ${IA_SERVER_MODEL}
                 ${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh)
set_tests_properties(server_generate PROPERTIES FIXTURES_REQUIRED synth_models SKIP_RETURN_CODE 77 TIMEOUT 600
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;PYTHONDONTWRITEBYTECODE=1")
if(IA_SANITIZE OR IA_TSAN)
  set_tests_properties(server_generate PROPERTIES
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;PYTHONDONTWRITEBYTECODE=1;IA_TEST_QUICK=1")
endif()
set_tests_properties(server_generate PROPERTIES PROCESSORS 2) # both cores, as the decoder tests

# The int8/uint8 encodings on the real all-MiniLM-L6-v2 (scripts/fetch-model.sh)
# against sentence-transformers' quantize_embeddings (a committed golden made
# by scripts/gen-quantized-golden.py).
add_test(NAME server_quantized
         COMMAND ${IA_SERVER_PY} ${CMAKE_CURRENT_LIST_DIR}/test_quantized.py ${IA_SERVER_CLI}
                 ${PROJECT_SOURCE_DIR}/tests/data/golden/quantized-minilm.npz)
set_tests_properties(server_quantized PROPERTIES TIMEOUT 180
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;PYTHONDONTWRITEBYTECODE=1")

# serve --config FILE: server.models (two models routed by name, --model on
# top, the environment's) and the errors of bad entries, on the tiny models.
add_test(NAME server_config
         COMMAND ${IA_SERVER_PY} ${CMAKE_CURRENT_LIST_DIR}/test_serve_config.py ${IA_SERVER_CLI}
                 ${CMAKE_BINARY_DIR}/tests/models)
set_tests_properties(server_config PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;PYTHONDONTWRITEBYTECODE=1")

# /v1/advise: the advise document over HTTP, predicted once peaks are stored.
add_test(NAME server_advise
         COMMAND ${IA_SERVER_PY} ${CMAKE_CURRENT_LIST_DIR}/test_advise.py ${IA_SERVER_CLI} ${IA_SERVER_MODEL})
set_tests_properties(server_advise PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120)
