// detect_task: the task a checkpoint folder serves, read from its modules.json (a
// sentence-transformers pooling module), its weights and its path.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "model/model_task.h"
#include "model/qwen3_weights.h"
#include "../temp_dir_test.h"

namespace qwen3 {
namespace {

class DetectTask : public TempDirTest {
 protected:
  DetectTask() : TempDirTest("model_task") {}
};

ModelTask task_with_modules(const std::filesystem::path& dir, const std::string& modules_json) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "modules.json") << modules_json;
  return detect_task(dir, Qwen3Weights{});
}

TEST_F(DetectTask, PoolingModuleMeansEmbed) {
  EXPECT_EQ(task_with_modules(dir_ / "a",
                              R"([{"idx": 0, "type": "sentence_transformers.models.Transformer"},
                                  {"idx": 1, "type": "sentence_transformers.models.Pooling"}])"),
            ModelTask::Embed);
  EXPECT_EQ(task_with_modules(dir_ / "b", R"([{"type": "sentence_transformers.models.Transformer"}])"),
            ModelTask::Generate);
  EXPECT_EQ(detect_task(dir_ / "no-such-folder", Qwen3Weights{}), ModelTask::Generate);
}

// A modules.json that is not what sentence-transformers writes names no pooling module; it is
// never an exception (a "type" of another JSON type threw nlohmann's type_error out of the loader).
TEST_F(DetectTask, MalformedModulesJsonIsNoPoolingModule) {
  int i = 0;
  for (const char* text : {R"([{"type": 5}])", R"([{"type": {"Pooling": 1}}, 3, null])", R"({"type": "Pooling"})",
                           "[{\"type\": \"Pooling\"", "", "\xff\xfe"}) {
    const std::filesystem::path dir = dir_ / std::to_string(i++);
    EXPECT_NO_THROW(EXPECT_EQ(task_with_modules(dir, text), ModelTask::Generate)) << text;
  }
}

}  // namespace
}  // namespace qwen3
