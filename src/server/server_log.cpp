#include "server/server_log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace qwen3::server {
namespace {

spdlog::level::level_enum to_spdlog(LogLevel l) {
  switch (l) {
    case LogLevel::Debug: return spdlog::level::debug;
    case LogLevel::Info: return spdlog::level::info;
    case LogLevel::Warn: return spdlog::level::warn;
    case LogLevel::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// A text line stays one line whatever a client puts in its path: control bytes become \xNN.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += char(c);
  }
  return out;
}

}  // namespace

LogLevel parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::Debug;
  if (name == "info") return LogLevel::Info;
  if (name == "warn") return LogLevel::Warn;
  if (name == "error") return LogLevel::Error;
  fail("--log-level: '{}' is not debug, info, warn or error", name);
}

LogFormat parse_log_format(std::string_view name) {
  if (name == "text") return LogFormat::Text;
  if (name == "json") return LogFormat::Json;
  fail("--log-format: '{}' is not text or json", name);
}

Log::Log(LogLevel level, LogFormat format) : Log(level, format, std::make_shared<spdlog::sinks::stderr_sink_mt>()) {}

Log::Log(LogLevel level, LogFormat format, spdlog::sink_ptr sink)
    : format_(format), logger_(std::make_shared<spdlog::logger>("qwen3", std::move(sink))) {
  logger_->set_level(to_spdlog(level));
  logger_->flush_on(spdlog::level::trace);  // every record reaches the sink at once (log readers, tests)
  // %v is the rest of the JSON object, written by write(); level names as spdlog spells them
  // (debug, info, warning, error).
  logger_->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      format == LogFormat::Json ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})" : "%Y-%m-%d %H:%M:%S.%e [%l] %v",
      spdlog::pattern_time_type::utc));
}

bool Log::enabled(LogLevel level) const { return logger_->should_log(to_spdlog(level)); }

void Log::write(LogLevel level, std::string_view msg, const Json& fields) const {
  if (!enabled(level)) return;
  if (format_ == LogFormat::Text) {
    logger_->log(to_spdlog(level), "{}", printable(msg));
    return;
  }
  Json record = {{"msg", std::string(msg)}};
  for (auto& [k, v] : fields.items()) record[k] = v;
  std::string body = record.dump(-1, ' ', false, Json::error_handler_t::replace);
  logger_->log(to_spdlog(level), "{}", std::string_view(body).substr(1, body.size() - 2));  // without { }
}

void Log::access(std::string_view method, std::string_view path, int status, double ms) const {
  if (!enabled(LogLevel::Info)) return;
  write(LogLevel::Info, fmt::format("{} {} {} {:.1f} ms", method.empty() ? "-" : method, path.empty() ? "-" : path, status, ms),
        {{"method", std::string(method)}, {"path", std::string(path)}, {"status", status}, {"ms", std::round(ms * 10) / 10}});
}

}  // namespace qwen3::server
