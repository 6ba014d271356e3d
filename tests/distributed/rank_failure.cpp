// A two-rank training job whose rank 1 cannot read its third batch (as a damaged video would
// stop a source): the job must stop on every rank with a message naming rank 1, and the
// checkpoint on disk must be a whole one. rank_failure.sh runs it under mpirun and checks both;
// `--check FILE` prints the step of a checkpoint (no MPI).
#include <cstdio>
#include <cstring>
#include <string>

#include "support/context.hpp"
#include "support/indexed_source.hpp"
#include "svilm/core/threads.hpp"
#include "svilm/distributed/mpi.hpp"
#include "svilm/train.hpp"

namespace {

using namespace svilm;

class FailingSource : public testing::IndexedSource {
public:
    FailingSource(const SVilmConfig& config, bool fails) : IndexedSource(config, 100), fails_(fails) {}
    train::ClipBatch next_shard(index_t batch_size, index_t begin, index_t count) override {
        if (fails_ && ++batches_ == 3) throw IoError("clip " + std::to_string(begin) + ": cannot decode (a damaged file)");
        return IndexedSource::next_shard(batch_size, begin, count);
    }

private:
    bool fails_;
    int batches_ = 0;
};

int check(const char* path) {
    SVilm<float> model = SVilm<float>::zeroed(testing::cpu_ctx, testing::small_trainer_config());
    optim::AdamW<float> adamw(model.parameters(), testing::small_trainer_options(5).adamw);
    const train::TrainingState state = train::load_checkpoint(path, model, adamw);
    std::printf("checkpoint at step %lld\n", (long long)state.step);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "--check") == 0) return check(argv[2]);
    if (argc != 2) {
        std::fprintf(stderr, "usage: mpirun -n 2 %s RUN_DIR | %s --check CHECKPOINT\n", argv[0], argv[0]);
        return 2;
    }
    dist::MpiSession mpi(argc, argv);
    set_num_threads(1);
    return dist::run_or_abort([&] {
        dist::MpiCommunicator world;
        SVilm<float> model(testing::cpu_ctx, testing::small_trainer_config(), 5);
        FailingSource source(testing::small_trainer_config(), world.rank() == 1);
        train::TrainerOptions options = testing::small_trainer_options(5, argv[1]);
        options.batch_size = 4;
        options.micro_batches = 1;
        options.checkpoint_every = 1;
        train::Trainer<cpu> trainer(model, testing::test_tokenizer(), source, options, nullptr, &world);
        trainer.run();
    });
}
