# IPFS content layer: formats against published vectors, importer against
# kubo, exporter/CAR against the shared fixtures, store, gateway.
ia_add_test(test_ipfs_formats ${CMAKE_CURRENT_LIST_DIR}/test_formats.c)

add_executable(ia-addtool ${CMAKE_CURRENT_LIST_DIR}/addtool.c)
target_link_libraries(ia-addtool PRIVATE ipfs_accelerate_static)
set_target_properties(ia-addtool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME ipfs_kubo_crosscheck
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/kubo_crosscheck.sh $<TARGET_FILE:ia-addtool> $<TARGET_FILE:ipfs-accelerate>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
# the first run builds kubo (minutes on 2 cores)
set_tests_properties(ipfs_kubo_crosscheck PROPERTIES TIMEOUT 1500)
ia_add_test(test_ipfs_car ${CMAKE_CURRENT_LIST_DIR}/test_car.c)
ia_add_test(test_ipfs_store ${CMAKE_CURRENT_LIST_DIR}/test_store.c)

add_executable(ia-rpctool ${CMAKE_CURRENT_LIST_DIR}/rpctool.c)
target_include_directories(ia-rpctool PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(ia-rpctool PRIVATE ipfs_accelerate_static)
set_target_properties(ia-rpctool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME ipfs_network
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/net_test.sh $<TARGET_FILE:ipfs-accelerate> $<TARGET_FILE:ia-rpctool> ${IA_SHARED}
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(ipfs_network PROPERTIES TIMEOUT 1500)
add_test(NAME ipfs_cli
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cli_test.sh $<TARGET_FILE:ipfs-accelerate> ${IA_SHARED})
set_tests_properties(ipfs_cli PROPERTIES TIMEOUT 120)
