# bench/plot.py (matplotlib from Debian: python3-matplotlib) on small JSON fixtures in the shapes of
# bench/serve_bench.mjs --json and bench/compare_llama.py --json: every series, label and ratio must
# be in the SVG. Fails, never skips, without matplotlib (the import error fails each plot run).
add_test(NAME bench_plot COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/bench/test_plot.py)
set_tests_properties(bench_plot PROPERTIES TIMEOUT 120)
# bench/plot_depth.py on compare_llama.py --depth LIST --json fixtures (a bf16 and an fp8 KV sweep):
# each engine's line per format and KV dtype through the medians, at their depths.
add_test(NAME plot_depth COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/bench/test_plot_depth.py)
set_tests_properties(plot_depth PROPERTIES TIMEOUT 120)
