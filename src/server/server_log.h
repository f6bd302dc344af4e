// Levelled logging for `qwen3 serve`, through spdlog (Debian's libspdlog-dev), one record a line
// on stderr (or on the sink a test gives):
//   text: "2026-12-03 00:41:07.123 [info] GET /v1/models 200 0.4 ms"           (times in UTC)
//   json: {"time":"2026-12-03T00:41:07.123Z","level":"info","msg":"GET /v1/models 200 0.4 ms",
//          "method":"GET","path":"/v1/models","status":200,"ms":0.4}
// A record's extra fields (the access log's method, path, status, ms) go into the JSON object;
// the text line carries the message alone. Records below the level are dropped.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>

#include "server/openai_api.h"  // Json

namespace qwen3::server {

enum class LogLevel { Debug, Info, Warn, Error };
enum class LogFormat { Text, Json };

// From --log-level debug|info|warn|error and --log-format text|json; qwen3::Error naming the flag.
LogLevel parse_log_level(std::string_view name);
LogFormat parse_log_format(std::string_view name);

class Log {
 public:
  Log(LogLevel level, LogFormat format);                      // on stderr
  Log(LogLevel level, LogFormat format, spdlog::sink_ptr sink);
  bool enabled(LogLevel level) const;
  // Thread-safe. `fields`: a JSON object of scalars, merged into the record in the JSON format.
  void write(LogLevel level, std::string_view msg, const Json& fields = Json::object()) const;
  void debug(std::string_view msg) const { write(LogLevel::Debug, msg); }
  void info(std::string_view msg) const { write(LogLevel::Info, msg); }
  void warn(std::string_view msg) const { write(LogLevel::Warn, msg); }
  void error(std::string_view msg) const { write(LogLevel::Error, msg); }
  // The access log: one record per HTTP request, "GET /v1/models 200 0.4 ms" (info).
  void access(std::string_view method, std::string_view path, int status, double ms) const;

 private:
  LogFormat format_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace qwen3::server
