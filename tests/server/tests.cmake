# The HTTP server with real clients: the official `openai` npm package (node), curl for malformed
# and hostile requests, a load test of 64 concurrent streams, and a soak with random disconnects.
# Each starts `qwen3 serve` on a free loopback port with a tiny test model.
find_program(NODE_EXECUTABLE node)
set(_server_env "QWEN3_BIN=$<TARGET_FILE:qwen3>")
if(NODE_EXECUTABLE)
  foreach(t openai_client load_test soak_test)
    add_test(NAME server_${t} COMMAND ${NODE_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/${t}.mjs)
    set_tests_properties(server_${t} PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 900 SKIP_RETURN_CODE 77)
  endforeach()
endif()
add_test(NAME server_curl COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/test_curl.py)
set_tests_properties(server_curl PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 900 SKIP_RETURN_CODE 77)
# Requests built to crash, hang or exhaust the server (raw sockets, a hostile chat template, slow
# headers, abandoned requests, the SIGTERM drain).
add_test(NAME server_hostile COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/test_hostile.py)
set_tests_properties(server_hostile PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 900 SKIP_RETURN_CODE 77)
