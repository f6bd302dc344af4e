#include "server/web_page.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/error.h"
#include "server/openai_api.h"

namespace qwen3::server {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const WebAsset* find_asset(std::string_view url_path) {
  if (url_path == "/") url_path = "/index.html";
  if (url_path.empty() || url_path[0] != '/') return nullptr;
  url_path.remove_prefix(1);
  for (const WebAsset& a : web_assets())
    if (a.path == url_path) return &a;
  return nullptr;
}

// "/<path>" as a cpp-httplib route, which is a regular expression: "/index.html" must not match
// "/indexXhtml".
std::string route_pattern(std::string_view path) {
  std::string out = "/";
  for (char c : path) {
    if (std::strchr(".^$|()[]{}*+?\\", c) != nullptr) out += '\\';
    out += c;
  }
  return out;
}

// The page loads only its own files and talks only to its own server; model output is rendered
// as escaped text, and this keeps an injected script from running even if that ever failed.
constexpr const char* kPagePolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// scheme://host[:port], as a browser sends it in Origin (no path, no trailing slash).
bool is_origin(std::string_view s) {
  const size_t sep = s.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  const std::string_view scheme = s.substr(0, sep), rest = s.substr(sep + 3);
  if (!std::isalpha(static_cast<unsigned char>(scheme[0]))) return false;
  for (char c : scheme)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  if (rest.empty()) return false;
  for (char c : rest)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']')
      return false;
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Access-Control-Request-Headers is echoed when it is a plain list of header names (the official
// openai client sends several x-stainless-* headers besides Authorization and Content-Type).
bool is_header_list(std::string_view s) {
  if (s.empty() || s.size() > 1024) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == ',' || c == ' '; });
}

}  // namespace

std::string_view web_content_type(std::string_view path) {
  static constexpr std::pair<std::string_view, std::string_view> types[] = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".svg", "image/svg+xml"},
  };
  for (auto& [ext, type] : types)
    if (ends_with(path, ext)) return type;
  fail("web/{}: no Content-Type for this file extension (add one to web_content_type in src/server/web_page.cpp and to the web/ glob in CMakeLists.txt)", path);
}

void add_web_page(httplib::Server& http) {
  for (const WebAsset& a : web_assets()) {
    const std::string type(web_content_type(a.path));
    const bool html = ends_with(a.path, ".html");
    auto serve = [a, type, html](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Content-Type-Options", "nosniff");
      if (html) res.set_header("Content-Security-Policy", kPagePolicy);
      res.set_content(a.body.data(), a.body.size(), type.c_str());
    };
    http.Get(route_pattern(a.path), serve);
    if (a.path == "index.html") http.Get("/", serve);
  }
}

bool is_web_page_path(std::string_view path) { return find_asset(path) != nullptr; }

CorsPolicy::CorsPolicy(const std::string& origins) {
  std::string_view rest = origins;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view one = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (one == "*") {
      any_ = true;
    } else if (is_origin(one)) {
      origins_.push_back(lower(one));
    } else {
      fail("--cors-origin: '{}' is not an origin (scheme://host[:port], no path or trailing slash) nor *", one);
    }
  }
  if (!origins.empty() && !enabled()) fail("--cors-origin: '{}' names no origin", origins);
}

void CorsPolicy::apply(const httplib::Request& req, httplib::Response& res) const {
  if (!enabled()) return;
  if (!any_) res.set_header("Vary", "Origin");
  if (const std::string origin = allowed_origin(req); !origin.empty()) res.set_header("Access-Control-Allow-Origin", origin);
}

std::string CorsPolicy::allowed_origin(const httplib::Request& req) const {
  if (any_) return "*";
  const std::string origin = lower(req.get_header_value("Origin"));
  return std::find(origins_.begin(), origins_.end(), origin) != origins_.end() ? origin : std::string();
}

bool CorsPolicy::preflight(const httplib::Request& req, httplib::Response& res) const {
  if (!enabled() || req.method != "OPTIONS" || !req.has_header("Origin") ||
      !req.has_header("Access-Control-Request-Method"))
    return false;
  apply(req, res);
  if (allowed_origin(req).empty()) {
    const ApiError e(403, "this origin is not allowed (--cors-origin)");
    res.status = e.status();
    res.set_content(dump(e.to_json()), "application/json");
    return true;
  }
  const std::string asked = req.get_header_value("Access-Control-Request-Headers");
  res.status = 204;
  res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  res.set_header("Access-Control-Allow-Headers", is_header_list(asked) ? asked : "Authorization, Content-Type");
  res.set_header("Access-Control-Max-Age", "600");
  return true;
}

}  // namespace qwen3::server
