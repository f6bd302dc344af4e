#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

#include "core/file_io.h"
#include "core/json_file.h"

#include "core/error.h"
#include "io/json_brief.h"

namespace qwen3 {

using nlohmann::json;

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorInfo::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

size_t safetensors_dtype_size(const std::string& d) {
  static const std::map<std::string, size_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2},
      {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},     {"U32", 4},     {"F32", 4},
      {"F64", 8},  {"I64", 8}, {"U64", 8}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

namespace {

// The first key that appears twice in the top-level object of a JSON text (already known to be
// valid). A SAX pass in linear time: nlohmann's parser callback, which could also see the keys,
// rescans the parent object after every nested one, which is quadratic in the tensor count.
class TopLevelKeys : public json::json_sax_t {
 public:
  std::optional<std::string> duplicate;
  bool key(string_t& k) override {
    if (depth_ == 1 && !keys_.insert(k).second) {
      duplicate = k;
      return false;  // stop
    }
    return true;
  }
  bool start_object(std::size_t) override { return ++depth_, true; }
  bool end_object() override { return --depth_, true; }
  bool start_array(std::size_t) override { return ++depth_, true; }
  bool end_array() override { return --depth_, true; }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  int depth_ = 0;
  std::unordered_set<std::string> keys_;
};

std::optional<std::string> duplicate_top_level_key(const char* text, size_t n) {
  TopLevelKeys sax;
  json::sax_parse(text, text + n, &sax);
  return sax.duplicate;
}

// The tensors' byte ranges [begin, end) must tile the data section: no overlaps (two tensors
// sharing bytes), no holes and no trailing bytes (bytes no tensor accounts for: the format forbids
// them, which keeps a file from being a polyglot). Empty tensors occupy no bytes.
void check_coverage(const std::string& p, const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                    const std::vector<std::string>& names, uint64_t data_size) {
  std::vector<size_t> order;
  for (size_t i = 0; i < ranges.size(); ++i)
    if (ranges[i].first != ranges[i].second) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
  // Sorted by start, a range overlaps an earlier one exactly when it starts before the largest end
  // seen so far, and leaves a hole when it starts after it.
  uint64_t covered = 0;  // [0, covered) is covered
  const size_t none = ranges.size();
  size_t last = none;    // the tensor that ends at `covered`
  auto where = [&] { return last == none ? std::string("before the first tensor") : "after tensor '" + names[last] + "'"; };
  for (size_t i : order) {
    const auto& cur = ranges[i];
    if (cur.first < covered)
      fail("{}: tensors '{}' and '{}' overlap (data_offsets [{}, {}] and [{}, {}])", p, names[last], names[i],
           ranges[last].first, ranges[last].second, cur.first, cur.second);
    if (cur.first > covered)
      fail("{}: bytes [{}, {}) of the data section ({}) are not covered by any tensor; the format allows no holes",
           p, covered, cur.first, where());
    covered = cur.second, last = i;
  }
  if (covered < data_size)
    fail("{}: bytes [{}, {}) of the data section ({}) are not covered by any tensor; the format allows no "
         "trailing bytes", p, covered, data_size, where());
}

}  // namespace

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  auto f = std::unique_ptr<SafetensorsFile>(new SafetensorsFile);
  f->file_ = MappedFile(path);
  const std::string p = path.string();
  const size_t size = f->file_.size();
  if (size < 8) fail("{}: truncated safetensors file ({} bytes; the 8-byte header length is missing)", p, size);
  uint64_t header_len = 0;
  std::memcpy(&header_len, f->file_.data(), 8);  // little-endian hosts only (x86-64, aarch64)
  if (header_len > size - 8)
    fail("{}: header length {} runs past the end of the file ({} bytes)", p, header_len, size);
  const char* hb = reinterpret_cast<const char*>(f->file_.data() + 8);
  json header;
  try {
    header = json::parse(hb, hb + header_len);
  } catch (const json::exception& e) {
    fail("{}: header is not valid JSON: {}", p, e.what());
  }
  // Duplicate tensor names are ambiguous (JSON parsers keep either one): refuse them.
  if (auto dup = duplicate_top_level_key(hb, header_len)) fail("{}: tensor '{}' appears twice in the header", p, *dup);
  if (!header.is_object()) fail("{}: header is not a JSON object", p);
  const uint8_t* data_start = f->file_.data() + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // for the overlap check
  std::vector<std::string> range_names;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;
    if (!v.is_object()) fail("{}: tensor '{}': entry is not an object", p, name);
    TensorInfo t;
    t.name = name;
    t.file = &f->file_.path();
    t.mapping = &f->file_;
    if (!v.contains("dtype") || !v["dtype"].is_string()) fail("{}: tensor '{}': missing or non-string dtype", p, name);
    t.dtype_str = v["dtype"].get<std::string>();
    size_t esize = safetensors_dtype_size(t.dtype_str);
    if (esize == 0) fail("{}: tensor '{}': unknown dtype '{}'", p, name, t.dtype_str);
    t.dtype = parse_dtype(t.dtype_str);
    if (!v.contains("shape") || !v["shape"].is_array()) fail("{}: tensor '{}': missing or non-array shape", p, name);
    uint64_t numel = 1;
    for (auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) fail("{}: tensor '{}': shape has a non-integer or negative dimension", p, name);
      uint64_t dim = d.get<uint64_t>();
      if (dim > (uint64_t(1) << 40) || (dim && numel > (uint64_t(1) << 50) / dim))
        fail("{}: tensor '{}': shape has more than 2^50 elements", p, name);
      numel *= dim;
      t.shape.push_back(int64_t(dim));
    }
    const json off = v.contains("data_offsets") ? v["data_offsets"] : json();
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail("{}: tensor '{}': data_offsets must be two non-negative integers", p, name);
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size)
      fail("{}: tensor '{}': data_offsets [{}, {}] out of range (data section is {} bytes)", p, name, b, e, data_size);
    if (e - b != numel * esize)
      fail("{}: tensor '{}': data_offsets [{}, {}] hold {} bytes but dtype {} and shape {} need {}", p, name, b, e,
           e - b, t.dtype_str, t.shape_str(), numel * esize);
    t.data = data_start + b;
    t.nbytes = e - b;
    ranges.emplace_back(b, e);
    range_names.push_back(name);
    f->tensors_.emplace(name, std::move(t));
  }
  check_coverage(p, ranges, range_names, data_size);
  return f;
}

Checkpoint Checkpoint::open(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  Checkpoint c;
  c.dir_ = dir;
  if (!fs::is_directory(dir)) fail("{}: not a directory", dir.string());
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  if (regular_file_exists(index)) {
    c.index_file_ = index;
    const json j = read_json_file(index);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail("{}: no \"weight_map\" object", index.string());
    std::map<std::string, size_t> file_idx;
    std::vector<std::pair<std::string, std::string>> wanted;
    for (auto& [name, fv] : j["weight_map"].items()) {
      if (!fv.is_string()) fail("{}: weight_map entry '{}' is not a file name", index.string(), name);
      std::string fname = fv.get<std::string>();
      if (fname.empty() || fname.find('/') != std::string::npos || fname == "." || fname == "..")
        fail("{}: weight_map entry '{}' names an invalid file '{}'", index.string(), name, fname);
      if (!file_idx.count(fname)) {
        file_idx[fname] = c.files_.size();
        c.files_.push_back(SafetensorsFile::open(dir / fname));
      }
      wanted.emplace_back(name, fname);
    }
    for (auto& [name, fname] : wanted) {
      auto& ts = c.files_[file_idx[fname]]->tensors();
      auto it = ts.find(name);
      if (it == ts.end()) fail("{}: tensor '{}' is listed in {} but absent from it", (dir / fname).string(), name, index.filename().string());
      c.index_[name] = &it->second;
    }
    // Tensors present in a shard but missing from the weight map: tensors() still lists them (the
    // model's validation reports them as unexpected), find() does not (require() says the index
    // lacks them).
    for (auto& f : c.files_)
      for (auto& [name, t] : f->tensors())
        if (!c.index_.count(name)) c.index_[name] = &t, c.unlisted_.insert(name);
  } else if (regular_file_exists(single)) {
    c.files_.push_back(SafetensorsFile::open(single));
    for (auto& [name, t] : c.files_[0]->tensors()) c.index_[name] = &t;
  } else {
    fail("{}: no checkpoint (neither model.safetensors nor model.safetensors.index.json)", dir.string());
  }
  return c;
}

const TensorInfo* Checkpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() || unlisted_.count(name) ? nullptr : it->second;
}

const TensorInfo& Checkpoint::require(const std::string& name) const {
  if (const TensorInfo* t = find(name)) return *t;
  if (index_file_.empty()) fail("{}: missing tensor '{}'", files_[0]->path().string(), name);
  if (auto it = index_.find(name); it != index_.end())
    fail("{}: weight_map has no entry for tensor '{}' (though {} holds it)", index_file_.string(), name,
         it->second->file->filename().string());
  fail("{}: weight_map has no entry for tensor '{}', and no shard holds it", index_file_.string(), name);
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata, Progress* progress) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t off = 0;
  for (auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.nbytes}}};
    off += t.nbytes;
  }
  std::string h = header.dump();
  while (h.size() % 8) h.push_back(' ');
  FileWriter out(path);
  uint64_t n = h.size();
  out.write(&n, 8);
  out.write(h);
  for (auto& t : tensors) {
    if (progress) out.write(t.data, t.nbytes, *progress);
    else out.write(t.data, t.nbytes);
  }
  out.close();
}

}  // namespace qwen3
