// svilm/text.hpp: BERT WordPiece tokenizer, WordNet noun phrases, grounding prompts.
// Link svilm::text (needs Debian's libutf8proc-dev).
#pragma once

#include "svilm/text/nouns.hpp"
#include "svilm/text/prompts.hpp"
#include "svilm/text/tokenizer.hpp"
#include "svilm/text/unicode.hpp"
#include "svilm/text/utf8.hpp"
#include "svilm/text/vocabulary.hpp"
