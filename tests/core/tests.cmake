# The public API as a whole: NULL arguments to every public function (a
# table generated from the headers), error messages, logging, versions.
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/null_calls.c
  COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/gen_null_calls.py ${PROJECT_SOURCE_DIR}/include
          ${CMAKE_CURRENT_BINARY_DIR}/null_calls.c
  DEPENDS ${CMAKE_CURRENT_LIST_DIR}/gen_null_calls.py ${IA_PUBLIC_HEADERS})
ia_add_test(test_api ${CMAKE_CURRENT_LIST_DIR}/test_api.c ${CMAKE_CURRENT_BINARY_DIR}/null_calls.c)
target_include_directories(test_api PRIVATE ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(test_api PROPERTIES LABELS tsan)
