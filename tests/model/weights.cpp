// Weights: save and reload a whole model, strict and lenient loading with clear errors, the
// ViT and BERT checkpoint name maps against the reference's conversion, configuration JSON,
// presets, and bitwise determinism of a training step.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/context.hpp"
#include "support/compare.hpp"
#include "support/temp_dir.hpp"
#include "svilm/io/model_file.hpp"
#include "svilm/io/pretrained.hpp"
#include "svilm/model.hpp"
#include "svilm/train/checkpoint.hpp"

namespace svilm::testing {
namespace {

namespace fs = std::filesystem;

template <class T>
bool same_bits(TensorView<const T, 1> a, TensorView<const T, 1> b) {
    return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), std::size_t(a.size()) * sizeof(T)) == 0);
}
template <class T, int Rank>
bool same_bits(const Tensor<T, Rank>& a, const Tensor<T, Rank>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

SVilmConfig fixture_config() {
    return load_model_config(io::SafetensorsFile(std::string(SVILM_TEST_DATA_DIR) + "/svilm_tiny_fixture.safetensors"));
}

// Inputs for inference on any config: one clip of random pixels, two short captions.
struct Probe {
    Tensor<float, 5> video;
    Tensor<std::int64_t, 2> ids;
    Tensor<std::uint8_t, 2> mask;
    explicit Probe(const SVilmConfig& c, index_t clips = 1) {
        video = Tensor<float, 5>({clips, c.video.frames, 3, c.video.image_size, c.video.image_size});
        Generator rng(7);
        rng.normal<float, 5>(video);
        ids = Tensor<std::int64_t, 2>({2, 6});
        mask = Tensor<std::uint8_t, 2>({2, 6});
        for (index_t b = 0; b < 2; ++b)
            for (index_t n = 0; n < 6; ++n) {
                ids(b, n) = (11 * b + 5 * n + 1) % c.text.vocab_size;
                mask(b, n) = n < 6 - 2 * b;
            }
    }
};

void check_roundtrip(const SVilmConfig& config) {
    TempDir dir;
    const SVilm<float> model(cpu_ctx, config, 123);
    save_model(model, dir.path / "model.safetensors");
    const SVilm<float> loaded = load_model<float>(cpu_ctx, dir.path / "model.safetensors");
    CHECK(to_json(loaded.config()) == to_json(config));
    CHECK(same_bits<float>(loaded.parameters().values(), model.parameters().values()));
    const Probe probe(config);
    CHECK(same_bits(loaded.encode_video(cpu_ctx, probe.video), model.encode_video(cpu_ctx, probe.video)));
    CHECK(same_bits(loaded.encode_text(cpu_ctx, probe.ids, probe.mask), model.encode_text(cpu_ctx, probe.ids, probe.mask)));
}

TEST_CASE("weights: a tiny model saves and reloads to identical parameters and outputs") {
    check_roundtrip(preset("tiny"));
}

TEST_CASE("weights: the file names every parameter as the PyTorch state_dict does") {
    TempDir dir;
    const SVilm<float> model(cpu_ctx, fixture_config(), 1);
    save_model(model, dir.path / "m.safetensors");
    const io::SafetensorsFile file(dir.path / "m.safetensors");
    const io::SafetensorsFile reference(std::string(SVILM_TEST_DATA_DIR) + "/svilm_tiny_fixture.safetensors");
    std::vector<std::string> ours, theirs;
    for (const auto& [name, info] : file.tensors()) ours.push_back(name);
    for (const auto& [name, info] : reference.tensors())
        if (name.rfind("weight.", 0) == 0) theirs.push_back(name.substr(7));
    CHECK(ours == theirs);
    for (const auto& name : ours) CHECK(file.info(name).shape == reference.info("weight." + name).shape);
}

TEST_CASE("weights: strict loading names missing, unexpected and mis-shaped keys; lenient loading reports them") {
    TempDir dir;
    SVilm<float> model(cpu_ctx, fixture_config(), 2);
    const nn::ParameterStore<float>& store = model.parameters();
    auto write_without = [&](const std::string& skipped, const fs::path& path, bool extra, const std::string& reshaped) {
        io::SafetensorsWriter w;
        for (const nn::ParameterInfo& p : store.parameters()) {
            if (p.name == skipped) continue;
            std::vector<index_t> shape = p.shape;
            if (p.name == reshaped) shape = {p.size};
            w.add<float>(p.name, store.values().data() + p.offset, shape);
        }
        static const float stray[2] = {1, 2};
        if (extra) w.add<float>("video.extra_head.weight", stray, {2});
        w.set_metadata("config", to_json(model.config()).dump());
        w.write(path);
    };
    const fs::path missing = dir.path / "missing.safetensors", extra = dir.path / "extra.safetensors",
                   shaped = dir.path / "shaped.safetensors";
    write_without("video.group_token", missing, false, "");
    write_without("", extra, true, "");
    write_without("", shaped, false, "text_proj.weight");

    SVilm<float> target(cpu_ctx, fixture_config(), 3);
    Tensor<float, 1> before(target.parameters().values().shape());
    copy<float, 1>(cpu_ctx, before, target.parameters().values());
    try {
        io::load_parameters(target.parameters(), missing);
        FAIL("expected a FormatError");
    } catch (const FormatError& e) {
        CHECK(std::string(e.what()).find("video.group_token") != std::string::npos);
        CHECK(std::string(e.what()).find("missing.safetensors") != std::string::npos);
    }
    CHECK(same_bits<float>(target.parameters().values(), before));  // a failed strict load writes nothing
    try {
        io::load_parameters(target.parameters(), extra);
        FAIL("expected a FormatError");
    } catch (const FormatError& e) {
        CHECK(std::string(e.what()).find("video.extra_head.weight") != std::string::npos);
    }
    try {
        io::load_parameters(target.parameters(), shaped, {false, ""});
        FAIL("expected a FormatError");
    } catch (const FormatError& e) {
        CHECK(std::string(e.what()).find("text_proj.weight") != std::string::npos);
        CHECK(std::string(e.what()).find("(16, 16)") != std::string::npos);
    }
    {  // an integer tensor is refused before anything is written
        io::SafetensorsWriter w;
        std::vector<std::vector<std::int64_t>> ints;
        for (const nn::ParameterInfo& p : store.parameters()) {
            if (p.name == "text_proj.bias") {
                ints.emplace_back(std::size_t(p.size), 1);
                w.add<std::int64_t>(p.name, ints.back().data(), p.shape);
            } else {
                w.add<float>(p.name, store.values().data() + p.offset, p.shape);
            }
        }
        w.write(dir.path / "ints.safetensors");
        CHECK_THROWS_WITH_AS(io::load_parameters(target.parameters(), dir.path / "ints.safetensors"),
                             doctest::Contains("text_proj.bias' has dtype I64"), FormatError);
        CHECK(same_bits<float>(target.parameters().values(), before));
    }
    const io::LoadReport report = io::load_parameters(target.parameters(), missing, {false, ""});
    CHECK(report.missing == std::vector<std::string>{"video.group_token"});
    CHECK(report.unexpected.empty());
    CHECK(report.loaded.size() + 1 == store.parameters().size());
    const io::LoadReport lenient = io::load_parameters(target.parameters(), extra, {false, ""});
    CHECK(lenient.unexpected == std::vector<std::string>{"video.extra_head.weight"});
    CHECK(same_bits<float>(target.parameters().values(), model.parameters().values()));
}

TEST_CASE("weights: truncated, empty, foreign and absent files are clear errors") {
    TempDir dir;
    const SVilm<float> model(cpu_ctx, fixture_config(), 4);
    const fs::path good = dir.path / "good.safetensors";
    save_model(model, good);
    const auto size = fs::file_size(good);
    for (const std::uintmax_t cut : {std::uintmax_t(0), std::uintmax_t(5), std::uintmax_t(200), size / 2, size - 1}) {
        INFO("cut at " << cut);
        const fs::path bad = dir.path / "cut.safetensors";
        fs::copy_file(good, bad, fs::copy_options::overwrite_existing);
        fs::resize_file(bad, cut);
        CHECK_THROWS_AS(load_model<float>(cpu_ctx, bad), Error);
        try {
            load_model<float>(cpu_ctx, bad);
        } catch (const Error& e) {
            CHECK(std::string(e.what()).find("cut.safetensors") != std::string::npos);
        }
    }
    CHECK_THROWS_AS(load_model<float>(cpu_ctx, dir.path / "absent.safetensors"), IoError);
    const fs::path foreign = dir.path / "foreign.safetensors";
    io::SafetensorsWriter w;
    const Tensor<float, 1> one = Tensor<float, 1>::full({1}, 1.0f);
    w.add<float, 1>("x", one);
    w.write(foreign);
    CHECK_THROWS_WITH_AS(load_model<float>(cpu_ctx, foreign), doctest::Contains("no 'config'"), FormatError);
}

TEST_CASE("model files: a training checkpoint is a model file; a checkpoint without weights, a ViT or BERT checkpoint are named") {
    TempDir dir;
    SVilm<float> model(cpu_ctx, fixture_config(), 5);
    optim::AdamW<float> adamw(model.parameters(), {});
    train::TrainingState state;
    state.step = 17;
    const fs::path checkpoint = dir.path / "checkpoint.safetensors";
    train::save_checkpoint(checkpoint, model, adamw, state);
    const SVilm<float> loaded = load_model<float>(cpu_ctx, checkpoint);
    CHECK(same_bits<float>(loaded.parameters().values(), model.parameters().values()));
    CHECK(to_json(load_model_config(io::SafetensorsFile(checkpoint))) == to_json(model.config()));

    // the same metadata with the optimiser's moments alone: what the file is, its step, what it lacks
    const io::SafetensorsFile full(checkpoint);
    io::SafetensorsWriter moments_only;
    std::vector<std::vector<float>> kept;  // the writer holds pointers until write()
    kept.reserve(full.tensors().size());
    for (const auto& [key, info] : full.tensors())
        if (key.rfind("adamw.", 0) == 0) {
            std::size_t count = 1;
            for (const index_t e : info.shape) count *= std::size_t(e);
            std::vector<float>& values = kept.emplace_back(count);
            full.read_into<float>(key, values.data(), count);
            moments_only.add<float>(key, values.data(), info.shape);
        }
    for (const auto& [key, value] : full.metadata()) moments_only.set_metadata(key, value);
    const fs::path no_model = dir.path / "moments.safetensors";
    moments_only.write(no_model);
    const std::string expected = no_model.string() +
                                 " is a training checkpoint of step 17 without the model's weights (no 'model.' tensors): "
                                 "not a model file";
    CHECK_THROWS_WITH_AS(load_model<float>(cpu_ctx, no_model), expected.c_str(), FormatError);
    CHECK_THROWS_WITH_AS(load_model_config(io::SafetensorsFile(no_model)), expected.c_str(), FormatError);

    for (const char* name : {"ckpt_vit_timm.safetensors", "ckpt_vit_hf.safetensors"}) {
        const std::string vit = std::string(SVILM_TEST_DATA_DIR) + "/" + name;
        CHECK_THROWS_WITH_AS(load_model<float>(cpu_ctx, vit),
                             (vit + " is a ViT checkpoint, not an svilm model: give it to svilm init --vit "
                                    "(io::load_vit_checkpoint)").c_str(),
                             FormatError);
    }
    const std::string bert = std::string(SVILM_TEST_DATA_DIR) + "/ckpt_bert_hf.safetensors";
    CHECK_THROWS_WITH_AS(load_model<float>(cpu_ctx, bert), doctest::Contains("is a BERT checkpoint"), FormatError);
}

void expect_expected(const nn::ParameterStore<float>& store, const std::string& prefix, const io::LoadReport& report) {
    const io::SafetensorsFile expected(std::string(SVILM_TEST_DATA_DIR) + "/ckpt_expected.safetensors");
    std::vector<std::string> names;
    for (const auto& [key, info] : expected.tensors())
        if (key.rfind(prefix, 0) == 0) names.push_back(key.substr(prefix.size()));
    REQUIRE(!names.empty());
    CHECK(names.size() == report.loaded.size());
    for (const std::string& name : names) {
        const nn::ParameterInfo* p = store.find(name);
        REQUIRE_MESSAGE(p, name);
        Tensor<float, 1> ref({p->size}, uninitialized);
        expected.read_into<float>(prefix + name, ref.data(), std::size_t(p->size));
        const TensorView<const float, 1> ours(store.values().data() + p->offset, {p->size});
        expect_close<float, float, 1>(prefix + name, ours, ref.view(), Tolerance{0, 0});
    }
}

TEST_CASE("pretrained: timm and Hugging Face ViT checkpoints initialise the video encoder as the reference maps them") {
    for (const char* which : {"timm", "hf"}) {
        INFO(which);
        SVilm<float> model(cpu_ctx, fixture_config(), 5);
        const std::string path = std::string(SVILM_TEST_DATA_DIR) + "/ckpt_vit_" + which + ".safetensors";
        const io::LoadReport report = io::load_vit_checkpoint(model.parameters(), model.config().video, path);
        expect_expected(model.parameters(), std::string(which) + ".", report);
        CHECK(report.unexpected.empty());
        const auto has = [&](const std::string& n) {
            return std::find(report.missing.begin(), report.missing.end(), n) != report.missing.end();
        };
        CHECK(has("video.group_token"));
        CHECK(has("video.pos_embed_temporal"));
        CHECK(has("video.grouping.0.assign.q_proj.weight"));
        CHECK(!has("video.blocks.0.attn.qkv.weight"));
        SVilm<float> strict_model(cpu_ctx, fixture_config(), 5);
        CHECK_NOTHROW(io::load_vit_checkpoint(strict_model.parameters(), strict_model.config().video, path, true));
    }
    SVilmConfig deeper = fixture_config();
    deeper.video.depth = 5;  // one block more than the checkpoint has
    SVilm<float> model(cpu_ctx, deeper, 5);
    const std::string path = std::string(SVILM_TEST_DATA_DIR) + "/ckpt_vit_timm.safetensors";
    CHECK_THROWS_WITH_AS(io::load_vit_checkpoint(model.parameters(), deeper.video, path, true),
                         doctest::Contains("video.blocks.4."), FormatError);
    const io::LoadReport lenient = io::load_vit_checkpoint(model.parameters(), deeper.video, path);
    CHECK(std::count_if(lenient.missing.begin(), lenient.missing.end(),
                        [](const std::string& n) { return n.rfind("video.blocks.4.", 0) == 0; }) == 12);
}

TEST_CASE("pretrained: a bert-base-uncased checkpoint initialises the text encoder; wrong files are named") {
    SVilm<float> model(cpu_ctx, fixture_config(), 6);
    const std::string path = std::string(SVILM_TEST_DATA_DIR) + "/ckpt_bert_hf.safetensors";
    const io::LoadReport report = io::load_bert_checkpoint(model.parameters(), model.config().text, path);
    expect_expected(model.parameters(), "bert.", report);
    CHECK(report.missing.empty());
    CHECK(report.unexpected.empty());
    CHECK_THROWS_WITH_AS(io::load_bert_checkpoint(model.parameters(), model.config().text,
                                                  std::string(SVILM_TEST_DATA_DIR) + "/ckpt_vit_timm.safetensors"),
                         doctest::Contains("not a BERT checkpoint"), FormatError);
    CHECK_THROWS_WITH_AS(io::load_vit_checkpoint(model.parameters(), model.config().video, path),
                         doctest::Contains("ViT naming"), FormatError);
    SVilmConfig wider = fixture_config();
    wider.video.image_size = 32;  // a 4x4 grid: the checkpoint's 2x2 position table does not fit
    SVilm<float> other(cpu_ctx, wider, 7);
    CHECK_THROWS_WITH_AS(io::load_vit_checkpoint(other.parameters(), wider.video,
                                                 std::string(SVILM_TEST_DATA_DIR) + "/ckpt_vit_timm.safetensors"),
                         doctest::Contains("pos_embed"), FormatError);
}

TEST_CASE("config: JSON round trip, presets, and invalid sizes named") {
    for (const char* name : {"tiny", "small", "base"}) {
        const SVilmConfig c = preset(name);
        CHECK(to_json(config_from_json(to_json(c))) == to_json(c));
    }
    CHECK(preset("base").video.width == 768);
    CHECK(preset("base").text.vocab_size == 30522);
    CHECK_THROWS_AS(preset("huge"), ValueError);
    SVilmConfig bad = preset("tiny");
    bad.video.grouping.after = {3, 2};
    CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("grouping_after"), ValueError);
    bad = preset("tiny");
    bad.video.heads = 5;
    CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("video.width"), ValueError);
    CHECK_THROWS_AS(config_from_json(nlohmann::json::parse(R"({"video": {"width": "wide"}})")), FormatError);
    CHECK_THROWS_WITH_AS(config_from_json(nlohmann::json::parse(R"({"video": {"widht": 96}})")),
                         doctest::Contains("unknown key 'video.widht'"), FormatError);
    CHECK_THROWS_WITH_AS(config_from_json(nlohmann::json::parse(R"({"video": {"width": 96.5}})")),
                         doctest::Contains("'video.width' must be an integer"), FormatError);
    CHECK_THROWS_AS(config_from_json(nlohmann::json::parse(R"({"text": 3})")), FormatError);
    CHECK_THROWS_AS(config_from_json(nlohmann::json::parse(R"({"video": {"hard_assignment": 1}})")), FormatError);
    CHECK_THROWS_AS(config_from_json(nlohmann::json::parse(R"({"video": {"layer_norm_eps": -1}})")), ValueError);
}

TEST_CASE("config: the grouping settings travel together, in model files where they always were") {
    SVilmConfig c = preset("tiny");
    c.video.grouping.gumbel_tau = 0.5;
    c.video.grouping.mlp_ratio = 2;
    const nlohmann::json j = to_json(c);
    CHECK(j.at("gumbel_tau") == 0.5);  // top level, as every model file written so far has it
    CHECK(j.at("video").at("grouping_mlp_ratio") == 2);
    CHECK(j.at("video").at("num_group_tokens") == c.video.grouping.num_group_tokens);
    const SVilmConfig back = config_from_json(j);
    CHECK(back.video.grouping.gumbel_tau == 0.5);
    CHECK(back.video.grouping.mlp_ratio == 2);
    nlohmann::json older = j;  // a file from before the MLP ratio was a setting: GroupViT's 4
    older.at("video").erase("grouping_mlp_ratio");
    CHECK(config_from_json(older).video.grouping.mlp_ratio == 4);
    // the ratio sizes both grouping MLPs
    nn::ParameterStore<float> store;
    const GroupingBlock<float> block(store, "g", c.video.width, c.video.heads, 1e-6, c.video.grouping);
    CHECK(store.find("g.pre_assign_attn.mlp.fc1.weight")->shape == std::vector<index_t>{2 * c.video.width, c.video.width});
    CHECK(store.find("g.mlp_channels.fc2.weight")->shape == std::vector<index_t>{c.video.width, 2 * c.video.width});
    c.video.grouping.mlp_ratio = 0;
    CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("grouping_mlp_ratio"), ValueError);
    c = preset("tiny");
    c.video.grouping.gumbel_tau = 0;
    CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("temperatures"), ValueError);
}

TEST_CASE("parameters: a store's values move to a store of the same layout; another layout is named") {
    const SVilm<float> a(cpu_ctx, preset("tiny"), 1);
    SVilm<float> b = SVilm<float>::zeroed(cpu_ctx, preset("tiny"));
    b.parameters().copy_values_from(a.parameters());
    CHECK(std::memcmp(a.parameters().values().data(), b.parameters().values().data(),
                      std::size_t(a.parameters().buffer_size()) * sizeof(float)) == 0);
    SVilmConfig wider = preset("tiny");
    wider.video.mlp_hidden += 8;
    SVilm<float> c = SVilm<float>::zeroed(cpu_ctx, wider);
    CHECK_THROWS_WITH_AS(c.parameters().copy_values_from(a.parameters()), doctest::Contains("video.blocks.0.mlp.fc1.weight"),
                         ValueError);
    nn::ParameterStore<float> unallocated;
    CHECK_THROWS_WITH_AS(unallocated.copy_values_from(a.parameters()), doctest::Contains("allocated"), ValueError);
    // the model runs on the context its parameters were allocated with, and refuses another
    const Context<cpu> other;
    const VideoConfig& v = a.config().video;
    const Tensor<float, 5> clips({1, v.frames, 3, v.image_size, v.image_size});
    CHECK_THROWS_WITH_AS(a.encode_video(other, clips), doctest::Contains("another context"), ValueError);
    CHECK(a.encode_video(cpu_ctx, clips).extent(0) == 1);
}

TEST_CASE("determinism: the same seed twice gives bitwise-equal losses and gradients") {
    const SVilmConfig config = fixture_config();
    auto run = [&](Tensor<float, 1>& grads) {
        SVilm<float> model(cpu_ctx, config, 77);
        const index_t B = 3, K = config.num_nouns, Nt = config.video.temporal_positions();
        Generator rng(78);
        Tensor<float, 5> video({B, config.video.frames, 3, config.video.image_size, config.video.image_size});
        rng.normal<float, 5>(video);
        Tensor<float, 2> mask({B, Nt});
        const auto valid = Tensor<std::uint8_t, 2>::full({B, K}, 1);
        for (index_t i = 0; i < B; ++i) mask(i, 1) = 1;
        Tensor<std::int64_t, 2> ids({B, 5}), pids({B * K, 5});
        const auto am = Tensor<std::uint8_t, 2>::full({B, 5}, 1), pm = Tensor<std::uint8_t, 2>::full({B * K, 5}, 1);
        for (index_t i = 0; i < ids.size(); ++i) ids.data()[i] = (i * 7) % config.text.vocab_size;
        for (index_t i = 0; i < pids.size(); ++i) pids.data()[i] = (i * 3) % config.text.vocab_size;
        SVilmState<float> s;
        model.forward(cpu_ctx, s, {video, mask, ids, am, pids, pm, valid}, rng);
        model.parameters().zero_grad();
        model.backward(cpu_ctx, s);
        grads = Tensor<float, 1>(model.parameters().grads().shape());
        copy<float, 1>(cpu_ctx, grads, model.parameters().grads());
        return s.losses.total;
    };
    Tensor<float, 1> a, b;
    const float first = run(a), second = run(b);
    CHECK(std::memcmp(&first, &second, sizeof(float)) == 0);
    CHECK(same_bits<float, 1>(a, b));
}

TEST_SUITE("slow") {
    TEST_CASE("weights: a base model (ViT-B/16 + BERT-base, 2 frames) saves and reloads to identical outputs") {
        SVilmConfig config = preset("base");
        config.video.frames = 2;  // one tubelet in time keeps the forward quick; the weights are base's
        check_roundtrip(config);
    }
}

}  // namespace
}  // namespace svilm::testing
