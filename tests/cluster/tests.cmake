# Distributed embedding on NATS JetStream (src/cluster/, docs/distributed.md):
# a nats-server on a free loopback port in a temporary directory, three
# workers on the tiny synthetic model, a worker killed and the server
# restarted mid-run, a poisoned task, a submitter killed and rerun. Skips
# (77) only where nats-server is not installed (scripts/install-deps.sh
# installs it).
add_test(NAME cluster_embed
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/cluster_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set_tests_properties(cluster_embed PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120
                     SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

# Credentials and TLS: nats-servers with an authorization block (user and
# password, token) and with TLS (certificates made by openssl); a worker
# with wrong or no credentials cannot join, the right ones embed.
add_test(NAME cluster_auth
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/auth_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set_tests_properties(cluster_auth PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120
                     SKIP_RETURN_CODE 77)

# The public C API (cluster.h) against a server started by api_test.py:
# a bounded queue's IA_ERR_BUSY, timeouts and bad arguments with no worker,
# then one worker's vectors equal to an in-process embed, a dead letter.
ia_add_test_program(test_cluster_api ${CMAKE_CURRENT_LIST_DIR}/test_cluster_api.c)
add_test(NAME cluster_api
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/api_test.py
                 $<TARGET_FILE:test_cluster_api> $<TARGET_FILE:ipfs-accelerate>
                 ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set_tests_properties(cluster_api PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120
                     SKIP_RETURN_CODE 77)

# The wire formats and ids, without NATS.
ia_add_test(test_cluster_protocol ${CMAKE_CURRENT_LIST_DIR}/test_cluster_protocol.c)

# serve --cluster: two workers, a local serve and a serve --cluster give the
# same response bytes; with the workers stopped, the same requests come from
# the memory and result-bucket cache tiers (hits counted); a dead letter is
# 502, a full queue 429, no worker 504.
add_test(NAME cluster_serve
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/serve_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set_tests_properties(cluster_serve PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120
                     SKIP_RETURN_CODE 77)

# serve --cluster for /rerank, /v1/rerank and /predict: random classification
# checkpoints made by transformers (in .cache/hf-venv; skipped without),
# the bytes of a local serve, each model computed by its own worker.
add_test(NAME cluster_serve_rank
         COMMAND sh -c "[ -x '${PROJECT_SOURCE_DIR}/.cache/hf-venv/bin/python' ] || { echo 'SKIP: no .cache/hf-venv (scripts/install-deps.sh)'; exit 77; }; exec '${PROJECT_SOURCE_DIR}/.cache/hf-venv/bin/python' '${CMAKE_CURRENT_LIST_DIR}/serve_rank_test.py' '$<TARGET_FILE:ipfs-accelerate>' '${CMAKE_CURRENT_BINARY_DIR}/serve-rank-work'")
set_tests_properties(cluster_serve_rank PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77)

# Models by CID: tasks go to the workers that hold the model; where none
# does, a worker fetches it from a peer's gateway, every block verified (a
# lying gateway refused, naming the CID), and computes the same bytes; tasks
# left for a frozen holder are queued again for any worker.
add_test(NAME cluster_cid
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/cid_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set_tests_properties(cluster_cid PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120
                     SKIP_RETURN_CODE 77)

# The result cache's disk tier: a worker restarted on an empty server answers
# from its --result-cache folder without computing, a submitter with
# IPFS_ACCELERATE_RESULT_CACHE_DIR answers with no server state and no
# worker; byte for byte, hits counted in cluster status.
add_test(NAME cluster_disk_cache
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/disk_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32)
set_tests_properties(cluster_disk_cache PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120
                     SKIP_RETURN_CODE 77)

# Models that move: a model whose tasks wait for its one busy holder is
# taken up by an idle worker (fetched from the holder's gateway), which
# takes a fair share of the rest; a worker with room for one model unloads
# the least recently used for another, and loads it back from its store.
add_test(NAME cluster_spread
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/spread_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/tiny-f32
                 ${CMAKE_BINARY_DIR}/tests/models/minilm-f32)
set_tests_properties(cluster_spread PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 180
                     SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

# A slow worker gets proportionally fewer tasks: two workers pinned to a
# CPU each, one sharing its CPU with a busy loop; the job's tasks split
# about 2:1, the output a local embed's.
add_test(NAME cluster_share
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/share_test.py
                 $<TARGET_FILE:ipfs-accelerate> ${CMAKE_BINARY_DIR}/tests/models/minilm-f32)
set_tests_properties(cluster_share PROPERTIES FIXTURES_REQUIRED synth_models TIMEOUT 120
                     SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
