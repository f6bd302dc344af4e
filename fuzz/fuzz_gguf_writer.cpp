// The GGUF writer's inputs: metadata keys and values and tensor infos built from the input, the file
// written (to a tmpfs directory when there is one), then read back by a small GGUF reader here.
// Input: records of [op][key length][key bytes][payload...]; op picks add_u32 ... add_tensor.
// Checked: qwen3::Error for what the writer refuses (empty or repeated key, bad shape, size
// mismatch), and for what it accepts, a file that reads back to the same keys, values, tensor infos
// and bytes, with every tensor's data aligned and inside the file, and no element count that
// overflows 64 bits.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <array>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf_writer.h"

namespace gguf = qwen3::gguf;

namespace {

struct Input {
  const uint8_t* p;
  size_t n;
  bool take(void* out, size_t k) {
    if (n < k) return false;
    std::memcpy(out, p, k);
    p += k, n -= k;
    return true;
  }
  uint8_t u8() { uint8_t v = 0; take(&v, 1); return v; }
  std::string str(size_t max_len) {
    const size_t k = std::min<size_t>(u8() % (max_len + 1), n);
    std::string s(reinterpret_cast<const char*>(p), k);
    p += k, n -= k;
    return s;
  }
};

[[noreturn]] void bad(const char* what) {
  std::fprintf(stderr, "gguf writer: %s\n", what);
  std::abort();
}

// What the fuzzer asked for, to compare the file with.
struct Expected {
  std::vector<std::string> keys;
  struct Tensor { std::string name; uint32_t type; std::vector<int64_t> shape; std::vector<uint8_t> bytes; };
  std::vector<Tensor> tensors;
};

struct Reader {
  const std::string& f;
  size_t pos = 0;
  template <typename T>
  T pod() {
    if (f.size() - pos < sizeof(T)) bad("file ends inside a value");
    T v;
    std::memcpy(&v, f.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  std::string str() {
    const uint64_t k = pod<uint64_t>();
    if (f.size() - pos < k) bad("file ends inside a string");
    std::string s = f.substr(pos, k);
    pos += k;
    return s;
  }
  void skip_value(uint32_t type) {
    switch (type) {
      case 0: case 1: case 7: pod<uint8_t>(); break;
      case 2: case 3: pod<uint16_t>(); break;
      case 4: case 5: case 6: pod<uint32_t>(); break;
      case 10: case 11: case 12: pod<uint64_t>(); break;
      case 8: str(); break;
      case 9: {
        const uint32_t et = pod<uint32_t>();
        const uint64_t count = pod<uint64_t>();
        if (et == 9 || count > f.size()) bad("bad array");
        for (uint64_t i = 0; i < count; ++i) skip_value(et);
        break;
      }
      default: bad("unknown value type");
    }
  }
};

void verify(const std::string& f, const Expected& e) {
  Reader r{f};
  if (r.pod<uint32_t>() != gguf::kMagic || r.pod<uint32_t>() != gguf::kVersion) bad("bad magic or version");
  if (r.pod<uint64_t>() != e.tensors.size() || r.pod<uint64_t>() != e.keys.size()) bad("bad counts");
  for (const auto& key : e.keys) {
    if (r.str() != key) bad("key differs");
    r.skip_value(r.pod<uint32_t>());
  }
  std::vector<uint64_t> offsets;
  for (const auto& t : e.tensors) {
    if (r.str() != t.name) bad("tensor name differs");
    const uint32_t n_dims = r.pod<uint32_t>();
    if (n_dims != t.shape.size()) bad("dimension count differs");
    unsigned __int128 numel = 1;
    for (uint32_t i = 0; i < n_dims; ++i) {
      const uint64_t ne = r.pod<uint64_t>();
      if (ne != static_cast<uint64_t>(t.shape[n_dims - 1 - i])) bad("ne[] is not the shape reversed");
      numel *= ne;
    }
    if (r.pod<uint32_t>() != t.type) bad("tensor type differs");
    if (numel * gguf::type_size(static_cast<gguf::TensorType>(t.type)) != t.bytes.size())
      bad("the shape's size is not the tensor's byte count (overflow?)");
    offsets.push_back(r.pod<uint64_t>());
  }
  const size_t data_start = (r.pos + gguf::kAlignment - 1) / gguf::kAlignment * gguf::kAlignment;
  for (size_t i = 0; i < e.tensors.size(); ++i) {
    const auto& t = e.tensors[i];
    if (offsets[i] % gguf::kAlignment != 0) bad("unaligned tensor offset");
    if (offsets[i] > f.size() || f.size() - data_start - offsets[i] < t.bytes.size() || data_start > f.size())
      bad("tensor data past the end of the file");
    if (t.bytes.size() && std::memcmp(f.data() + data_start + offsets[i], t.bytes.data(), t.bytes.size()) != 0)
      bad("tensor bytes differ");
  }
}

const std::filesystem::path& out_path() {
  static const std::filesystem::path p = [] {
    const std::filesystem::path dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    return dir / ("qwen3-fuzz-gguf-" + std::to_string(getpid()) + ".gguf");
  }();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  gguf::Writer w;
  Expected e;
  std::vector<std::vector<uint8_t>> borrowed;  // bytes add_tensor borrows until write()
  borrowed.reserve(64);
  try {
    for (int op_count = 0; in.n > 0 && op_count < 64; ++op_count) {
      const uint8_t op = in.u8() % 10;
      std::string key = in.str(24);
      // general.alignment changes where a reader looks for the data; this writer always aligns to 32
      // (export-gguf never sets the key), so a file that sets it is not one it is meant to write.
      if (key == "general.alignment") continue;
      if (op < 8 && key.empty()) {
        // refused, and nothing else happens
        try { w.add_u32(key, 0); bad("empty key accepted"); } catch (const qwen3::Error&) {}
        continue;
      }
      auto dup = std::find(e.keys.begin(), e.keys.end(), key) != e.keys.end();
      auto add = [&](auto&& f) {
        try {
          f();
          if (dup) bad("repeated key accepted");
          e.keys.push_back(key);
        } catch (const qwen3::Error&) {
          if (!dup) bad("a new key refused");
        }
      };
      uint64_t v = 0;
      switch (op) {
        case 0: in.take(&v, 4); add([&] { w.add_u32(key, uint32_t(v)); }); break;
        case 1: in.take(&v, 4); add([&] { w.add_i32(key, int32_t(v)); }); break;
        case 2: in.take(&v, 8); add([&] { w.add_u64(key, v); }); break;
        case 3: { float f = 0; in.take(&f, 4); add([&] { w.add_f32(key, f); }); break; }
        case 4: add([&] { w.add_bool(key, in.u8() & 1); }); break;
        case 5: { std::string s = in.str(255); add([&] { w.add_string(key, std::move(s)); }); break; }
        case 6: {
          std::vector<std::string> ss(in.u8() % 8);
          for (auto& s : ss) s = in.str(32);
          add([&] { w.add_strings(key, std::move(ss)); });
          break;
        }
        case 7: {
          std::vector<int32_t> xs(in.u8() % 16);
          for (auto& x : xs) in.take(&x, 4);
          add([&] { w.add_i32s(key, std::move(xs)); });
          break;
        }
        default: {  // a tensor: [type][n_dims][dims, 8 bytes each][byte count, 2 bytes][bytes]
          const auto type = static_cast<gguf::TensorType>(std::array<uint32_t, 3>{0, 1, 30}[in.u8() % 3]);
          std::vector<int64_t> shape(in.u8() % 6);
          for (auto& d : shape) {
            uint64_t raw = 0;
            in.take(&raw, 8);
            d = static_cast<int64_t>(raw);
          }
          uint16_t nbytes = 0;
          in.take(&nbytes, 2);
          std::vector<uint8_t> bytes(nbytes);
          for (auto& b : bytes) b = in.u8();
          try {
            if (op == 8 && borrowed.size() < borrowed.capacity()) {
              borrowed.push_back(bytes);
              w.add_tensor(key, type, shape, borrowed.back().data(), borrowed.back().size());
            } else {
              w.add_tensor(key, type, shape, bytes);
            }
            e.tensors.push_back({key, static_cast<uint32_t>(type), shape, std::move(bytes)});
          } catch (const qwen3::Error&) {
          }
        }
      }
    }
    w.write(out_path());
  } catch (const qwen3::Error&) {
    return 0;  // e.g. a full /dev/shm
  }
  std::string file;
  {
    std::ifstream f(out_path(), std::ios::binary);
    file.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  std::filesystem::remove(out_path());  // nothing left in /dev/shm when the process dies
  verify(file, e);
  return 0;
}
