// Python str semantics over UTF-8: code points, whitespace, case mapping and the str methods chat
// templates call (strip, split, replace, find, title...).
//
// Bytes that are not valid UTF-8 decode to U+DC80..U+DCFF and encode back to the same byte, as
// Python's "surrogateescape" does, so no input is ever changed by a round trip.
// Case mapping is Python's: Unicode's simple mappings (utf8proc) plus the full mappings of
// SpecialCasing.txt where one code point becomes several ("ß".upper() is "SS", "ﬁ".title() "Fi",
// "İ".lower() "i̇") and Final_Sigma in lower(). Not followed: the Greek iota-subscript entries
// of SpecialCasing (Python: "ᾳ".upper() is "ΑΙ"; here "ᾼ") and Final_Sigma's skipping of
// case-ignorable marks. Classification (is_upper...) is the C library's C.UTF-8 locale.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3::jinja::text {

std::u32string decode(std::string_view s);
std::string encode(std::u32string_view s);
void append_utf8(std::string& out, char32_t c);
bool is_ascii(std::string_view s);
// Number of code points.
size_t length(std::string_view s);

bool is_space(char32_t c);      // Python str.isspace
bool is_printable(char32_t c);  // Python str.isprintable, close enough for repr()
bool is_alnum(char32_t c);
bool is_alpha(char32_t c);
bool is_digit(char32_t c);
bool is_upper(char32_t c);
bool is_lower(char32_t c);
// Simple (one to one) mappings.
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);
char32_t to_title(char32_t c);
// Full mappings of one code point (Python's c.upper(), c.lower(), c.title()).
void append_upper(std::u32string& out, char32_t c);
void append_lower(std::u32string& out, char32_t c);
void append_title(std::u32string& out, char32_t c);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);       // Python str.title
std::string capitalize(std::string_view s);  // Python str.capitalize
std::string swapcase(std::string_view s);    // Python str.swapcase
bool is_upper(std::string_view s);           // Python str.isupper
bool is_lower(std::string_view s);           // Python str.islower

// str.strip / lstrip / rstrip; chars: the set to strip, or whitespace when empty optional.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// str.split / rsplit; sep: empty optional splits on runs of whitespace. maxsplit < 0: no limit.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
// str.splitlines (\n, \r\n, \r, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029).
std::vector<std::string> splitlines(std::string_view s, bool keepends);
// str.replace; count < 0: all.
std::string replace(std::string_view s, std::string_view old, std::string_view replacement, int64_t count);
// str.find / rfind: code point index, -1 when absent.
int64_t find(std::string_view s, std::string_view sub);
int64_t rfind(std::string_view s, std::string_view sub);
// str.count: non-overlapping occurrences.
int64_t count(std::string_view s, std::string_view sub);

}  // namespace qwen3::jinja::text
