# The web chat page (web/, served at / by `qwen3 serve`): its modules under node (Markdown and XSS,
# the SSE reader, requests, storage) and the page in headless chromium driven by puppeteer-core
# against a tiny-model server. Both fail, never skip, without node, chromium (/usr/bin/chromium, or
# QWEN3_CHROMIUM) or the npm package puppeteer-core (npm ci).
find_program(NODE_EXECUTABLE node)
if(NODE_EXECUTABLE)
  set(_web_node ${NODE_EXECUTABLE})
else()
  set(_web_node node)
endif()
add_test(NAME web_units COMMAND ${_web_node} ${CMAKE_CURRENT_SOURCE_DIR}/tests/web/web_units.mjs)
set_tests_properties(web_units PROPERTIES TIMEOUT 60)
add_test(NAME web_chat_browser COMMAND ${_web_node} ${CMAKE_CURRENT_SOURCE_DIR}/tests/web/chat_browser.mjs)
set_tests_properties(web_chat_browser PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 300)
