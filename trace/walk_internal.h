/* Private: walking a node's tensor arguments (args, kwargs, list items), for
 * the passes over a traced graph (the planner, the sizing pass). */
#ifndef METATRACE_WALK_INTERNAL_H
#define METATRACE_WALK_INTERNAL_H

#include <metatrace/graph.h>

/* Runs the statements after `t` with `t` bound to each tensor argument of
 * node `nd_` in order; `continue` moves to the next one. */
#define MT__FOR_TENSOR_ARGS(nd_, t, ...)                                                                   \
    for (int mt_a_ = 0; mt_a_ < (nd_)->nargs + (nd_)->nkwargs; mt_a_++) {                                   \
        const mt_arg *mt_ar_ = mt_a_ < (nd_)->nargs ? &(nd_)->args[mt_a_] : &(nd_)->kwargs[mt_a_ - (nd_)->nargs].value; \
        int mt_c_ = mt_ar_->kind == MT_ARG_LIST ? mt_ar_->v.list.n : 1;                                    \
        for (int mt_k_ = 0; mt_k_ < mt_c_; mt_k_++) {                                                      \
            const mt_arg *mt_it_ = mt_ar_->kind == MT_ARG_LIST ? &mt_ar_->v.list.items[mt_k_] : mt_ar_;    \
            if (mt_it_->kind != MT_ARG_TENSOR) continue;                                                   \
            const mt_tensor *t = mt_it_->v.t;                                                              \
            __VA_ARGS__                                                                                    \
        }                                                                                                  \
    }

#endif
