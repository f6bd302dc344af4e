# Chat templates (see tests/chat/README.md). Included from the top-level CMakeLists.txt;
# CMAKE_CURRENT_SOURCE_DIR is the repository root.
#   chat_template_peer_comparison: `qwen3 chat-template` against the outputs of Python Jinja2 stored
#     in the fixtures, and the peer @huggingface/jinja (npm) against the same outputs.
#   chat_template_python_jinja2: the stored outputs against Python Jinja2 itself, configured as
#     transformers configures it (fails without python3-jinja2: the peer is required).
find_program(QWEN3_NODE_EXECUTABLE node)
if(QWEN3_NODE_EXECUTABLE)
  add_test(NAME chat_template_peer_comparison
           COMMAND ${QWEN3_NODE_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tests/chat/compare.js $<TARGET_FILE:qwen3>)
  # compare.js exits 77 when node_modules is not installed.
  set_tests_properties(chat_template_peer_comparison PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77 LABELS "peer;chat")
else()
  message(WARNING "node not found: the chat-template peer comparison with @huggingface/jinja is not registered")
endif()
# Debian's python3 with python3-jinja2 (installed by scripts/install-deps.sh).
set(QWEN3_PYTHON3_EXECUTABLE /usr/bin/python3)
if(QWEN3_PYTHON3_EXECUTABLE)
  add_test(NAME chat_template_python_jinja2
           COMMAND ${QWEN3_PYTHON3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tests/chat/make_expected.py --check)
  set_tests_properties(chat_template_python_jinja2 PROPERTIES TIMEOUT 300 LABELS "peer;chat")
endif()
