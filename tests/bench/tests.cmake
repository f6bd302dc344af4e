# bench/plot.py (matplotlib from Debian: python3-matplotlib) on small JSON fixtures in the shapes of
# bench/serve_bench.mjs --json and bench/compare_llama.py --json: every series, label and ratio must
# be in the SVG. Fails, never skips, without matplotlib (the import error fails each plot run).
add_test(NAME bench_plot COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/bench/test_plot.py)
set_tests_properties(bench_plot PROPERTIES TIMEOUT 120)
