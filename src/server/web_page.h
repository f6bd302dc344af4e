// The web chat page and cross-origin access (CORS) for `qwen3 serve`.
//
// The page is the files of web/ in the source tree (HTML, CSS, JavaScript modules), turned into
// byte arrays at build time by cmake/embed_files.cmake: the binary serves them at / with no file
// access and no source path compiled in. The page is public (no API key: a browser cannot send one
// to load a page); it sends the key the user types with each API request.
//
// CORS is off by default: no Access-Control-* header at all. `--cors-origin` turns it on for one
// origin, a comma-separated list, or * (any).
#pragma once

#include <httplib.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3::server {

struct WebAsset {
  std::string_view path;  // relative to web/, e.g. "index.html", "app.js"
  std::string_view body;
};
// Every file of web/, sorted by path (defined by the generated web_assets.cpp).
std::span<const WebAsset> web_assets();

// "text/javascript; charset=utf-8" for "app.js", ...; throws qwen3::Error for an extension the
// server has no type for (a file added to web/ must be given one here).
std::string_view web_content_type(std::string_view path);

// GET / (index.html) and GET /<asset> for every asset.
void add_web_page(httplib::Server& http);
// True for the paths add_web_page serves (they need no API key).
bool is_web_page_path(std::string_view path);

class CorsPolicy {
 public:
  // `origins`: empty (off), "*", or origins separated by commas ("https://a.example,http://b:8080").
  // Throws qwen3::Error naming --cors-origin for a value that is not an origin.
  explicit CorsPolicy(const std::string& origins);
  bool enabled() const { return any_ || !origins_.empty(); }
  // Sets Access-Control-Allow-Origin (and Vary: Origin) when the request's Origin is allowed. Once
  // per request: it does not replace headers it set before.
  void apply(const httplib::Request& req, httplib::Response& res) const;
  // A preflight (OPTIONS with Origin and Access-Control-Request-Method) while enabled: answers it,
  // apply() included (204 with the allowed methods and headers, or 403 for an origin not allowed),
  // and returns true; false otherwise, having set nothing.
  bool preflight(const httplib::Request& req, httplib::Response& res) const;

 private:
  std::string allowed_origin(const httplib::Request& req) const;  // "" when not allowed
  bool any_ = false;
  std::vector<std::string> origins_;
};

}  // namespace qwen3::server
