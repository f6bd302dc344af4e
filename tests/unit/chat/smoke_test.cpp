#include <gtest/gtest.h>
#include "chat/chat_template.h"
TEST(Smoke, Hello) {
  auto t = qwen3::ChatTemplate::parse("Hello {{ name }}!");
  EXPECT_EQ(t.render({{"name", "world"}}), "Hello world!");
}
