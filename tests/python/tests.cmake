# The Python binding (python/ipfs_accelerate), tested with pytest from the
# test venv (.cache/venv, made by scripts/install-deps.sh) against this
# build's shared library. Not under the sanitizers: an ASan library cannot
# be loaded into a plain Python through ctypes. OMP_WAIT_POLICY=passive:
# the 10,000 small calls of the leak test otherwise spin OpenMP workers
# against the other tests on a 2-core machine (30x slower there).
if(NOT IA_SANITIZE)
  add_test(NAME python_binding
           COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python -m pytest -q -rs -p no:cacheprovider
                   --ignore=${CMAKE_CURRENT_LIST_DIR}/test_pip_install.py ${CMAKE_CURRENT_LIST_DIR}
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(python_binding PROPERTIES
    FIXTURES_REQUIRED synth_models
    TIMEOUT 300
    ENVIRONMENT "IPFS_ACCELERATE_LIB=$<TARGET_FILE:ipfs_accelerate>;PYTHONPATH=${PROJECT_SOURCE_DIR}/python;IA_SYNTH_DIR=${CMAKE_BINARY_DIR}/tests/models;IA_CLI=$<TARGET_FILE:ipfs-accelerate>;IA_TEST_DATA=${IA_TEST_DATA};HF_HUB_OFFLINE=1;OMP_WAIT_POLICY=passive")

  # README's `pip install './python[numpy]'` into a fresh venv: compiles the
  # library with scikit-build-core (from PyPI, as numpy; pip's cache keeps
  # them) and embeds with the installed package. 20-60 s on 2 cores, cold
  # pip cache or warm; PROCESSORS 2: its compile uses both cores.
  add_test(NAME python_pip_install
           COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python -m pytest -q -rs -p no:cacheprovider
                   ${CMAKE_CURRENT_LIST_DIR}/test_pip_install.py
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(python_pip_install PROPERTIES
    FIXTURES_REQUIRED synth_models
    TIMEOUT 1200
    PROCESSORS 2
    ENVIRONMENT "IA_TEST_PIP_INSTALL=1;IA_SYNTH_DIR=${CMAKE_BINARY_DIR}/tests/models;IA_TEST_DATA=${IA_TEST_DATA}")
endif()
