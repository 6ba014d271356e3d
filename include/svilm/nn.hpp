// svilm/nn.hpp: modules with named parameters, each a forward and a backward side by side.
#pragma once

#include "svilm/ops.hpp"

#include "svilm/nn/attention.hpp"
#include "svilm/nn/linear.hpp"
#include "svilm/nn/mlp.hpp"
#include "svilm/nn/parameter.hpp"
#include "svilm/nn/patch_embed.hpp"
#include "svilm/nn/transformer_block.hpp"
