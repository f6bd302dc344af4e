#include "engine/output_processor.h"

namespace qwen3::engine {

void OutputProcessor::add(RequestId id, int index, const std::vector<std::string>& stop) {
  choices_.emplace(id, Choice{index, StreamingDetokenizer(tokenizer_, /*skip_special_tokens=*/true), StopMatcher(stop)});
}

OutputProcessor::Result OutputProcessor::process(const CoreOutput& o) {
  Result r;
  auto it = choices_.find(o.id);
  if (it == choices_.end()) return r;
  Choice& c = it->second;
  r.delta.index = c.index;
  r.delta.cached_tokens = o.cached_tokens;
  for (size_t i = 0; i < o.tokens.size(); ++i) {
    const TokenInfo& t = o.tokens[i];
    const bool last = i + 1 == o.tokens.size();
    const bool stop_id = last && o.stop_token;
    r.delta.tokens.push_back(t);
    // A stop id is not part of the text; ids past the tokenizer's vocabulary have none.
    std::string text;
    if (!stop_id && tokenizer_.contains(t.token)) c.detok.push(t.token, text);
    if (last && o.finish && !stop_id) text += c.detok.flush();
    r.delta.text += c.stop.feed(text);
    if (c.stop.stopped()) {
      r.delta.finish = FinishReason::Stop;
      r.stopped_by_string = !(last && o.finish);  // the core still runs it
      r.done = true;
      choices_.erase(it);
      return r;
    }
  }
  if (o.finish) {
    if (*o.finish == FinishReason::Stop || *o.finish == FinishReason::Length) r.delta.text += c.stop.finish();
    r.delta.finish = c.stop.stopped() ? FinishReason::Stop : *o.finish;
    r.done = true;
    choices_.erase(it);
  }
  return r;
}

}  // namespace qwen3::engine
