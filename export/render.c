/* metatrace — rendered output (SVG, PNG) through Graphviz gvc.
 *
 * Uses the same graph as the DOT exporter (mtx_dot_build), laid out with the
 * `dot` engine. Layout of very large graphs (tens of thousands of nodes) is
 * slow: prefer --layers to render a reduced model. gvc keeps plugin state
 * that leak checkers report; keep this out of leak-checked tests. */
#include <string.h>

#include <graphviz/gvc.h>

#include <metatrace/metatrace.h>

#include "dot_internal.h"

mt_status mt_export_render(mt_model *m, mt_graph *g, const char *format, FILE *out)
{
    if (!m || !g || !out || !format)
        return m ? mt_fail(m->ctx, MT_ERR_USAGE, "mt_export_render: NULL argument") : MT_ERR_USAGE;
    if (strcmp(format, "svg") != 0 && strcmp(format, "png") != 0)
        return mt_fail(m->ctx, MT_ERR_USAGE, "render: unknown format '%s' (expected svg or png)",
                       format);

    Agraph_t *ag = mtx_dot_build(m, g);
    if (!ag)
        return mt_ctx_status(m->ctx) != MT_OK ? mt_ctx_status(m->ctx) : MT_ERR_INTERNAL;
    GVC_t *gvc = gvContext();
    if (!gvc) {
        agclose(ag);
        return mt_fail(m->ctx, MT_ERR_NOMEM, "render: cannot create a Graphviz context");
    }
    mt_status st = MT_OK;
    if (gvLayout(gvc, ag, "dot") != 0) {
        st = mt_fail(m->ctx, MT_ERR_INTERNAL,
                     "render: Graphviz 'dot' layout failed (is the graphviz package installed?)");
    } else {
        if (gvRender(gvc, ag, format, out) != 0)
            st = mt_fail(m->ctx, MT_ERR_UNSUPPORTED,
                         "render: Graphviz cannot render '%s' (missing plugin?)", format);
        else if (fflush(out) != 0 || ferror(out))
            st = mt_fail(m->ctx, MT_ERR_IO, "render: writing the %s image failed", format);
        gvFreeLayout(gvc, ag);
    }
    agclose(ag);
    gvFreeContext(gvc);
    return st;
}
