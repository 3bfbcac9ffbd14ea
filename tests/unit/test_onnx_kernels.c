/* test_onnx_kernels.c: the BLAS kernels of the graph evaluator (im2col +
 * sgemm Conv, sgemm Gemm) against their scalar reference twins, over many
 * shapes, strides, pads, dilations, groups and transpositions. */
#include <stdlib.h>
#include <string.h>

#include "../../src/graph/graph_internal.h"
#include "test.h"

static unsigned rng = 1u;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *rand_vec(int64_t n)
{
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = frand();
    return v;
}

TEST(onnx_kernel_conv_blas_matches_reference)
{
    static const struct {
        int n, c, h, w, m, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, g;
    } cases[] = {
        {1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1},
        {2, 3, 8, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {1, 4, 9, 9, 6, 3, 2, 2, 3, 1, 0, 2, 1, 1, 1, 2},
        {3, 2, 6, 6, 2, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},     /* 1x1 fast path */
        {1, 6, 7, 8, 6, 3, 3, 1, 2, 1, 1, 1, 1, 2, 1, 6},     /* depthwise, dilated */
        {2, 4, 10, 10, 8, 5, 5, 2, 2, 2, 2, 2, 2, 1, 2, 4},
        {1, 2, 3, 3, 3, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1, 1},     /* pads > half kernel */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        snn_node n;
        memset(&n, 0, sizeof n);
        n.op = SNN_OP_CONV;
        n.name = "conv";
        n.nin = 3;
        snn_conv_attr *a = &n.a.conv;
        a->kernel[0] = cases[k].kh;
        a->kernel[1] = cases[k].kw;
        a->strides[0] = cases[k].sh;
        a->strides[1] = cases[k].sw;
        a->pads[0] = cases[k].pt;
        a->pads[1] = cases[k].pl;
        a->pads[2] = cases[k].pb;
        a->pads[3] = cases[k].pr;
        a->dilations[0] = cases[k].dh;
        a->dilations[1] = cases[k].dw;
        a->group = cases[k].g;
        gshape xs = {4, {cases[k].n, cases[k].c, cases[k].h, cases[k].w}};
        gshape ws = {4, {cases[k].m, cases[k].c / cases[k].g, cases[k].kh, cases[k].kw}};
        gshape bs = {1, {cases[k].m}};
        gshape ys;
        const gshape *ins[3] = {&xs, &ws, &bs};
        snn_error err;
        CHECK_OK(graph_node_infer(&n, ins, &ys, INT64_C(1) << 30, &err));
        float *x = rand_vec(gshape_elems(&xs)), *w = rand_vec(gshape_elems(&ws)),
              *b = rand_vec(cases[k].m);
        int64_t ny = gshape_elems(&ys);
        float *y1 = malloc((size_t)ny * sizeof *y1), *y2 = malloc((size_t)ny * sizeof *y2);
        size_t ns = graph_node_scratch(&n, ins, &ys);
        float *col = malloc((ns + 1) * sizeof *col);
        graph_conv_blas(a, &xs, x, &ws, w, b, &ys, y1, col);
        graph_conv_ref(a, &xs, x, &ws, w, b, &ys, y2);
        int bad = -1;
        for (int64_t i = 0; i < ny && bad < 0; i++)
            if (fabsf(y1[i] - y2[i]) > 1e-4f * (1 + fabsf(y2[i]))) bad = (int)i;
        free(x);
        free(w);
        free(b);
        free(y1);
        free(y2);
        free(col);
        CHECK_MSG(bad < 0, "case %zu differs at %d", k, bad);
    }
}

TEST(onnx_kernel_gemm_blas_matches_reference)
{
    static const int64_t sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {16, 3, 33}, {7, 17, 2}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int mode = 0; mode < 16; mode++) {
            int64_t M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
            snn_gemm_attr a = {mode & 4 ? 0.5f : 1.0f, mode & 8 ? 2.0f : 1.0f,
                               mode & 1, (mode >> 1) & 1};
            /* C: none, scalar, [N], [M,1], [M,N] in turn */
            int cm = (int)((mode + s) % 5);
            gshape cs = {0, {0}};
            if (cm == 2) cs = (gshape){1, {N}};
            if (cm == 3) cs = (gshape){2, {M, 1}};
            if (cm == 4) cs = (gshape){2, {M, N}};
            float *A = rand_vec(M * K), *B = rand_vec(K * N);
            float *C = cm ? rand_vec(gshape_elems(&cs)) : NULL;
            float *y1 = malloc((size_t)(M * N) * sizeof *y1);
            float *y2 = malloc((size_t)(M * N) * sizeof *y2);
            graph_gemm_blas(&a, M, N, K, A, B, &cs, C, y1);
            graph_gemm_ref(&a, M, N, K, A, B, &cs, C, y2);
            int bad = -1;
            for (int64_t i = 0; i < M * N && bad < 0; i++)
                if (fabsf(y1[i] - y2[i]) > 1e-4f * (1 + fabsf(y2[i]))) bad = (int)i;
            free(A);
            free(B);
            free(C);
            free(y1);
            free(y2);
            CHECK_MSG(bad < 0, "size %zu mode %d differs at %d", s, mode, bad);
        }
}

TEST(onnx_kernel_gemm_hand_values)
{
    /* [1 2;3 4] x [5 6;7 8] = [19 22;43 50]; transposed A gives [26 30;38 44] */
    const float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8};
    float y[4];
    snn_gemm_attr a = {1.0f, 1.0f, 0, 0};
    graph_gemm_ref(&a, 2, 2, 2, A, B, NULL, NULL, y);
    CHECK_NEAR(y[0], 19, 0);
    CHECK_NEAR(y[3], 50, 0);
    graph_gemm_blas(&a, 2, 2, 2, A, B, NULL, NULL, y);
    CHECK_NEAR(y[1], 22, 0);
    CHECK_NEAR(y[2], 43, 0);
    a.trans_a = 1;
    graph_gemm_blas(&a, 2, 2, 2, A, B, NULL, NULL, y);
    CHECK_NEAR(y[0], 26, 0);
    CHECK_NEAR(y[3], 44, 0);
}

TEST(onnx_kernel_reference_used_by_exec)
{
    /* graph_node_exec with ref=1 and ref=0 agree on a Conv node */
    snn_node n;
    memset(&n, 0, sizeof n);
    n.op = SNN_OP_CONV;
    n.name = "c";
    n.nin = 2;
    n.a.conv = (snn_conv_attr){{2, 2}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1};
    gshape xs = {4, {1, 1, 3, 3}}, ws = {4, {1, 1, 2, 2}}, ys;
    const gshape *ins[2] = {&xs, &ws};
    snn_error err;
    CHECK_OK(graph_node_infer(&n, ins, &ys, 1000, &err));
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 0, 0, -1};
    const float *xp[2] = {x, w};
    float y1[4], y2[4], col[16];
    graph_node_exec(&n, ins, xp, &ys, y1, col, 0);
    graph_node_exec(&n, ins, xp, &ys, y2, col, 1);
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(y1[i], -4, 1e-6);
        CHECK_NEAR(y2[i], -4, 1e-6);
    }
}
