# Configuration: precedence, units, unknown keys, bad values, allocation failures.
ia_add_test(test_config ${CMAKE_CURRENT_LIST_DIR}/test_config.c)
