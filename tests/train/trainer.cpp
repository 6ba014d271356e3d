// The trainer: resuming from a checkpoint continues bit for bit, gradient accumulation and the
// schedule behave as documented, a NaN stops the run before the step is applied, checkpoints
// of another configuration are refused, the logs describe the run being trained.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/context.hpp"
#include "support/indexed_source.hpp"
#include "support/temp_dir.hpp"
#include "svilm/text/tokenizer.hpp"
#include "svilm/train.hpp"

namespace svilm::testing {
namespace {

namespace fs = std::filesystem;

train::TrainerOptions options(const fs::path& dir) { return small_trainer_options(4, dir); }

bool same_values(const SVilm<float>& a, const SVilm<float>& b) {
    const auto x = a.parameters().values(), y = b.parameters().values();
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), std::size_t(x.size()) * sizeof(float)) == 0;
}

TEST_CASE("trainer: 4 steps straight equal 2 steps, a checkpoint, a fresh process state and 2 more steps") {
    TempDir straight_dir, split_dir;
    SVilm<float> straight(cpu_ctx, small_trainer_config(), 5);
    IndexedSource straight_source(small_trainer_config(), 100);
    train::Trainer a(straight, test_tokenizer(), straight_source, options(straight_dir.path));
    const std::vector<train::StepResult> full = a.run();
    REQUIRE(full.size() == 4);

    SVilm<float> first_half(cpu_ctx, small_trainer_config(), 5);
    IndexedSource first_source(small_trainer_config(), 100);
    const train::TrainerOptions two = options(split_dir.path);
    train::Trainer b(first_half, test_tokenizer(), first_source, two);
    for (int i = 0; i < 2; ++i) b.step();
    b.save(split_dir.path / "half.safetensors");

    SVilm<float> resumed(cpu_ctx, small_trainer_config(), 12345);  // different initial weights: all must come from the file
    IndexedSource resumed_source(small_trainer_config(), 100);
    train::Trainer c(resumed, test_tokenizer(), resumed_source, two);
    c.resume(split_dir.path / "half.safetensors");
    CHECK(c.steps_done() == 2);
    const train::StepResult third = c.step(), fourth = c.step();
    CHECK(third.losses.total == full[2].losses.total);
    CHECK(fourth.losses.total == full[3].losses.total);
    CHECK(fourth.grad_norm == full[3].grad_norm);
    CHECK(same_values(resumed, straight));

    for (const auto& r : full) {
        CHECK(std::isfinite(r.losses.total));
        CHECK(r.losses.contrastive > 0);
        CHECK(r.losses.grounding > 0);
        CHECK(r.clips == 6);  // two micro-batches of 3
    }
    CHECK(fs::exists(straight_dir.path / "checkpoint.safetensors"));
    CHECK(fs::file_size(straight_dir.path / "log.csv") > 0);
    const SVilm<float> exported = train::load_checkpoint_model<float>(cpu_ctx, straight_dir.path / "checkpoint.safetensors");
    CHECK(same_values(exported, straight));
}

TEST_CASE("trainer: warm-up then cosine; the first step already moves") {
    optim::WarmupCosine s{1e-3, 1e-5, 10, 110};
    CHECK(s(0) == doctest::Approx(1e-4));
    CHECK(s(9) == doctest::Approx(1e-3));
    CHECK(s(60) == doctest::Approx(1e-5 + 0.5 * (1e-3 - 1e-5)));
    CHECK(s(110) == doctest::Approx(1e-5));
    CHECK_THROWS_AS(s(-1), ValueError);
}

TEST_CASE("trainer: a NaN loss stops the step before anything is applied") {
    TempDir dir;
    SVilm<float> model(cpu_ctx, small_trainer_config(), 6);
    IndexedSource source(small_trainer_config(), 7);
    train::Trainer trainer(model, test_tokenizer(), source, options(dir.path));
    const nn::ParameterInfo& p = *model.parameters().find("video.patch_embed.proj.bias");
    model.parameters().value(p)(0) = NAN;
    Tensor<float, 1> before(model.parameters().values().shape());
    copy<float, 1>(cpu_ctx, before, model.parameters().values());
    CHECK_THROWS_WITH_AS(trainer.step(), doctest::Contains("training step 1"), train::DivergedError);
    CHECK(std::memcmp(before.data(), model.parameters().values().data(), before.bytes()) == 0);
    CHECK(trainer.steps_done() == 0);
}

TEST_CASE("trainer: a checkpoint of another configuration, optimiser or schedule, or a plain model file, is refused") {
    TempDir dir;
    SVilm<float> model(cpu_ctx, small_trainer_config(), 6);
    IndexedSource source(small_trainer_config(), 7);
    train::Trainer trainer(model, test_tokenizer(), source, options(dir.path));
    trainer.step();
    trainer.save(dir.path / "c.safetensors");
    SVilmConfig other = small_trainer_config();
    other.embed_dim = 12;
    SVilm<float> different(cpu_ctx, other, 6);
    train::Trainer wrong(different, test_tokenizer(), source, options(dir.path));
    CHECK_THROWS_WITH_AS(wrong.resume(dir.path / "c.safetensors"), doctest::Contains("configuration differs"), FormatError);
    save_model(model, dir.path / "plain.safetensors");
    CHECK_THROWS_WITH_AS(trainer.resume(dir.path / "plain.safetensors"), doctest::Contains("not an svilm training checkpoint"),
                         FormatError);
    train::TrainerOptions longer = options(dir.path);  // another schedule: 8 steps instead of 4
    longer.steps = 8;
    train::Trainer other_schedule(model, test_tokenizer(), source, longer);
    CHECK_THROWS_WITH_AS(other_schedule.resume(dir.path / "c.safetensors"), doctest::Contains("schedule (4 steps"), FormatError);
    train::TrainerOptions faster = options(dir.path);  // another learning rate
    faster.adamw.lr *= 2;
    train::Trainer other_lr(model, test_tokenizer(), source, faster);
    CHECK_THROWS_WITH_AS(other_lr.resume(dir.path / "c.safetensors"), doctest::Contains("AdamW lr"), FormatError);
    train::TrainerOptions bad = options(dir.path);
    bad.batch_size = 1;
    CHECK_THROWS_AS(train::Trainer(model, test_tokenizer(), source, bad), ValueError);
}

std::vector<std::string> lines(const fs::path& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

TEST_CASE("trainer: a run from step 0 replaces the logs; a resumed run keeps them up to its checkpoint") {
    TempDir dir;
    const fs::path csv = dir.path / "log.csv", jsonl = dir.path / "log.jsonl";
    std::ofstream(csv) << "step,lr,loss_total,loss_contrastive,loss_temporal,loss_grounding,grad_norm,clips,seconds\n"
                       << "1,9,9,9,9,9,9,9,9\n";
    std::ofstream(jsonl) << "{\"step\": 1, \"lr\": 9}\n";
    SVilm<float> model(cpu_ctx, small_trainer_config(), 5);
    IndexedSource source(small_trainer_config(), 100);
    train::Trainer straight(model, test_tokenizer(), source, options(dir.path));
    straight.run();
    const std::vector<std::string> fresh = lines(csv);
    REQUIRE(fresh.size() == 5);  // the header and steps 1 to 4: the earlier run's line is gone
    CHECK(fresh[0].rfind("step,lr,", 0) == 0);
    for (int k = 1; k <= 4; ++k) CHECK(fresh[std::size_t(k)].rfind(std::to_string(k) + ",", 0) == 0);
    CHECK(lines(jsonl).size() == 4);

    // Stopped after step 4 with its last checkpoint at step 2, in the middle of writing step 5.
    SVilm<float> half_model(cpu_ctx, small_trainer_config(), 5);
    IndexedSource half_source(small_trainer_config(), 100);
    train::Trainer half(half_model, test_tokenizer(), half_source, options(dir.path));
    for (int i = 0; i < 2; ++i) half.step();
    half.save(dir.path / "half.safetensors");
    std::ofstream(csv, std::ios::app) << "5,0.0001,1.6";
    std::ofstream(jsonl, std::ios::app) << "{\"step\": 5, \"lr";

    SVilm<float> resumed_model(cpu_ctx, small_trainer_config(), 5);
    IndexedSource resumed_source(small_trainer_config(), 100);
    train::Trainer resumed(resumed_model, test_tokenizer(), resumed_source, options(dir.path));
    resumed.resume(dir.path / "half.safetensors");
    resumed.run();
    const std::vector<std::string> continued = lines(csv);
    REQUIRE(continued.size() == 5);  // steps 3 and 4 once each, the torn line gone
    for (int k = 1; k <= 2; ++k) CHECK(continued[std::size_t(k)] == fresh[std::size_t(k)]);
    for (int k = 3; k <= 4; ++k) CHECK(continued[std::size_t(k)].rfind(std::to_string(k) + ",", 0) == 0);
    const std::vector<std::string> entries = lines(jsonl);
    REQUIRE(entries.size() == 4);
    for (int k = 0; k < 4; ++k) CHECK(nlohmann::json::parse(entries[std::size_t(k)]).at("step") == k + 1);
}

}  // namespace
}  // namespace svilm::testing
