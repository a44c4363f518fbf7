# IPFS content layer: formats against published vectors, importer against
# kubo, exporter/CAR against the shared fixtures, store, gateway.
ia_add_test(test_ipfs_formats ${CMAKE_CURRENT_LIST_DIR}/test_formats.c)
