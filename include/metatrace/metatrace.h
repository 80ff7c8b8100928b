/* metatrace — umbrella header: build Hugging Face architectures on the meta
 * device from config.json, trace them symbolically, export FX-style graphs.
 * Include only this header; writing a model family also takes family.h. */
#ifndef METATRACE_H
#define METATRACE_H

#include "core.h"
#include "dtype.h"
#include "sym.h"
#include "graph.h"
#include "nn.h"
#include "model.h"
#include "plan.h"
#include "quant.h"
#include "sizing.h"
#include "fit.h"
#include "picture.h"
#include "diff.h"
#include "flat.h"
#include "viewer.h"

#endif
