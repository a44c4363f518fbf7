# The tokenizer against Hugging Face tokenizers: committed goldens (C), and
# fresh random inputs against the live oracle from the test venv.
ia_add_test(test_tokenizer ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer.c)
add_test(NAME tokenizer_fresh_oracle
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python
                 ${CMAKE_CURRENT_LIST_DIR}/fresh_oracle.py $<TARGET_FILE:ipfs-accelerate>)
