// The server's log records (server/server_log.h): the text and JSON line formats, the access log's
// fields, level filtering, and a client's control bytes kept out of a text line.
#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "server/server_log.h"

namespace qwen3::server {
namespace {

struct Captured {
  std::ostringstream out;
  Log log;
  Captured(LogLevel level, LogFormat format)
      : log(level, format, std::make_shared<spdlog::sinks::ostream_sink_st>(out, /*force_flush=*/true)) {}
  std::vector<std::string> lines() const {
    std::vector<std::string> r;
    std::istringstream in(out.str());
    for (std::string l; std::getline(in, l);) r.push_back(l);
    return r;
  }
};

TEST(ServerLog, TextLines) {
  Captured c(LogLevel::Info, LogFormat::Text);
  c.log.access("GET", "/v1/models", 200, 0.4321);
  c.log.warn("request 7 refused: too long");
  const auto lines = c.lines();
  ASSERT_EQ(lines.size(), 2u) << c.out.str();
  EXPECT_TRUE(std::regex_match(lines[0], std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[info\] GET /v1/models 200 0\.4 ms)")))
      << lines[0];
  EXPECT_TRUE(std::regex_match(lines[1], std::regex(R"(.* \[warning\] request 7 refused: too long)"))) << lines[1];
}

TEST(ServerLog, JsonLines) {
  Captured c(LogLevel::Debug, LogFormat::Json);
  c.log.access("POST", "/v1/chat/completions", 400, 12.26);
  c.log.debug("a \"quoted\" word\nand a second line");
  const auto lines = c.lines();
  ASSERT_EQ(lines.size(), 2u) << c.out.str();
  const Json a = Json::parse(lines[0]);
  EXPECT_TRUE(std::regex_match(a.at("time").get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  EXPECT_EQ(a.at("level"), "info");
  EXPECT_EQ(a.at("msg"), "POST /v1/chat/completions 400 12.3 ms");
  EXPECT_EQ(a.at("method"), "POST");
  EXPECT_EQ(a.at("path"), "/v1/chat/completions");
  EXPECT_EQ(a.at("status"), 400);
  EXPECT_DOUBLE_EQ(a.at("ms").get<double>(), 12.3);
  const Json d = Json::parse(lines[1]);
  EXPECT_EQ(d.at("level"), "debug");
  EXPECT_EQ(d.at("msg"), "a \"quoted\" word\nand a second line");
}

TEST(ServerLog, LevelFilters) {
  Captured c(LogLevel::Warn, LogFormat::Text);
  c.log.debug("d");
  c.log.info("i");
  c.log.access("GET", "/health", 200, 1);
  c.log.warn("w");
  c.log.error("e");
  const auto lines = c.lines();
  ASSERT_EQ(lines.size(), 2u) << c.out.str();
  EXPECT_NE(lines[0].find("[warning] w"), std::string::npos);
  EXPECT_NE(lines[1].find("[error] e"), std::string::npos);
  EXPECT_FALSE(c.log.enabled(LogLevel::Info));
}

TEST(ServerLog, ControlBytesStayOnOneTextLine) {
  Captured c(LogLevel::Info, LogFormat::Text);
  c.log.access("GET", "/a\nb\r\x1b", 404, 0);
  const auto lines = c.lines();
  ASSERT_EQ(lines.size(), 1u) << c.out.str();
  EXPECT_NE(lines[0].find(R"(GET /a\x0ab\x0d\x1b 404 0.0 ms)"), std::string::npos) << lines[0];
}

TEST(ServerLog, BadNamesNameTheFlag) {
  EXPECT_EQ(parse_log_level("warn"), LogLevel::Warn);
  EXPECT_EQ(parse_log_format("json"), LogFormat::Json);
  try {
    parse_log_level("verbose");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "--log-level: 'verbose' is not debug, info, warn or error");
  }
  try {
    parse_log_format("xml");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "--log-format: 'xml' is not text or json");
  }
}

}  // namespace
}  // namespace qwen3::server
